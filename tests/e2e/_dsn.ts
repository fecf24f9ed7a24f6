/**
 * A Postfix-shaped delivery status notification (RFC 3464 `multipart/report`) for a message that
 * a receiving server accepted and could not deliver later: addressed to the envelope sender it
 * was sent with, carrying the original's headers, as the bounce mailbox would receive it.
 */

export interface DsnInput {
  /** The MAIL FROM the receiving server saw (the VERP return path). */
  readonly returnPath: string;
  readonly recipient: string;
  /** The message as the receiving server got it: its header block is returned. */
  readonly original: Uint8Array;
  readonly status?: string;
  readonly diagnostic?: string;
}

export function postfixDsn(i: DsnInput): string {
  const status = i.status ?? "5.1.1";
  const diagnostic = i.diagnostic ??
    `550 ${status} <${i.recipient}>: Recipient address rejected: User unknown in local ` +
      "recipient table";
  const text = new TextDecoder().decode(i.original);
  const headers = text.slice(0, text.indexOf("\r\n\r\n")).replaceAll("\r\n", "\n");
  const boundary = "7Bq2Lq0Rz9z9t.1900000000/mx.x.test";
  return `Return-Path: <>
Delivered-To: ${i.returnPath}
Received: by mx.x.test (Postfix) id 7Bq2Lq0Rz9z9t; Fri, 1 Mar 2030 10:05:00 +0000 (UTC)
Date: Fri, 1 Mar 2030 10:05:00 +0000 (UTC)
From: MAILER-DAEMON@mx.x.test (Mail Delivery System)
Subject: Undelivered Mail Returned to Sender
To: ${i.returnPath}
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
\tboundary="${boundary}"
Content-Transfer-Encoding: 8bit
Message-Id: <20300301100500.7Bq2Lq0Rz9z9t@mx.x.test>

This is a MIME-encapsulated message.

--${boundary}
Content-Description: Notification
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

This is the mail system at host mx.x.test.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients. It's attached below.

<${i.recipient}>: host mailstore.x.test[192.0.2.30] said: ${diagnostic} (in reply to
    RCPT TO command)

--${boundary}
Content-Description: Delivery report
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.x.test
X-Postfix-Queue-ID: 7Bq2Lq0Rz9z9t
X-Postfix-Sender: rfc822; ${i.returnPath}
Arrival-Date: Fri, 1 Mar 2030 10:00:01 +0000 (UTC)

Final-Recipient: rfc822; ${i.recipient}
Original-Recipient: rfc822;${i.recipient}
Action: failed
Status: ${status}
Remote-MTA: dns; mailstore.x.test
Diagnostic-Code: smtp; ${diagnostic}

--${boundary}
Content-Description: Undelivered Message Headers
Content-Type: text/rfc822-headers
Content-Transfer-Encoding: 8bit

Return-Path: <${i.returnPath}>
Received: from relay.test (relay.test [198.51.100.7])
\tby mx.x.test (Postfix) with ESMTP id 7Bq2Lq0Rz9z9t
\tfor <${i.recipient}>; Fri, 1 Mar 2030 10:00:01 +0000 (UTC)
${headers}

--${boundary}--
`.replaceAll("\n", "\r\n");
}
