// OSS and ossvault error codes in words; anything else falls back to a generic sentence (the
// library's own message and the code stay one click away).
import type { MessageKey } from "./i18n";

const KNOWN: Record<string, MessageKey> = {
  AccessDenied: "error.AccessDenied",
  BucketAlreadyExists: "error.BucketAlreadyExists",
  BucketNotEmpty: "error.BucketNotEmpty",
  NoSuchBucket: "error.NoSuchBucket",
  NoSuchKey: "error.NoSuchKey",
  InvalidAccessKeyId: "error.InvalidAccessKeyId",
  SignatureDoesNotMatch: "error.SignatureDoesNotMatch",
  Network: "error.Network",
  InvalidInput: "error.InvalidInput",
  KeychainUnavailable: "error.KeychainUnavailable",
  KeychainLocked: "error.KeychainUnavailable",
  MissingKey: "error.MissingKey",
  NoKeyOpensObject: "error.MissingKey",
  WrongKey: "error.WrongKey",
  Tampered: "error.Tampered",
  ServerNotRunning: "error.ServerNotRunning",
  NoSuchProfile: "error.NoSuchProfile",
  Cancelled: "error.Cancelled",
  KeyNotFound: "error.KeyNotFound",
  KeyExists: "error.KeyExists",
  DuplicateKey: "error.DuplicateKey",
  InvalidKeyName: "error.InvalidKeyName",
  InvalidKeyMaterial: "error.InvalidKeyMaterial",
  NotRsa: "error.NotRsa",
  KeyInUse: "error.KeyInUse",
  WrongPassphrase: "error.WrongPassphrase",
  EmptyPassphrase: "error.EmptyPassphrase",
  NotABackup: "error.NotABackup",
};

export function errorKey(code: string): MessageKey {
  return KNOWN[code] ?? "error.unknown";
}
