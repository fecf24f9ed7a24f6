/**
 * Types for mailauth's internal `DkimSigner` class (mailauth/lib/dkim/dkim-signer.js), which
 * its published typings leave out. Only what oversigning.ts uses is declared.
 */
import { Writable } from "node:stream";

export interface ParsedHeader {
  /** Lower-case field name. */
  key: string;
  /** The field name as written; joined into the h= tag. */
  casedKey: string;
  line: Uint8Array;
}

export interface ParsedHeaders {
  parsed: ParsedHeader[];
  original: Uint8Array;
}

export interface SignatureData {
  signingDomain: string;
  selector: string;
  privateKey: string;
  algorithm?: string;
}

export interface DkimSignerOptions {
  canonicalization?: string;
  signTime?: Date;
  expires?: Date;
  headerList?: string[];
  signatureData: SignatureData[];
  strict?: boolean;
}

export class DkimSigner extends Writable {
  constructor(options: DkimSignerOptions);
  errors: { err: Error; signingDomain?: string; selector?: string }[];
  warnings: string[];
  signatureHeaders: string[];
  /** Called once with the parsed header section, before any signature is made. */
  messageHeaders(headers: ParsedHeaders): Promise<void>;
}
