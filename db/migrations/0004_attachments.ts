/**
 * Attachments in the structured form: `ferry.outbox.attachments`, a JSON array of
 * `{ filename, content_type, content (base64), content_id? }` (content_id makes an inline part
 * that html_body can reference as `cid:`). Counted against the message size limit.
 */
export const up = `
ALTER TABLE ferry.outbox ADD COLUMN attachments jsonb;
`;
