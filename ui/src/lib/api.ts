// Typed calls of the app's commands. Every command fails with an AppError.
import { invoke, Channel } from "@tauri-apps/api/core";
import type { Locale } from "./i18n";

export interface AppError {
  code: string;
  message: string;
  requestId: string | null;
}

export function isAppError(e: unknown): e is AppError {
  return typeof e === "object" && e !== null && "code" in e && "message" in e;
}

/** Any thrown value as an AppError (a string from Tauri itself becomes code "Internal"). */
export function toAppError(e: unknown): AppError {
  if (isAppError(e)) return { code: e.code, message: e.message, requestId: e.requestId ?? null };
  return { code: "Internal", message: String(e), requestId: null };
}

export type SecretsPlace = "keychain" | "files" | "given";

export interface ServerStatus {
  running: boolean;
  endpoint: string | null;
  httpsEndpoint: string | null;
  secrets: SecretsPlace | null;
  error: string | null;
  profileSaved: boolean;
  profileError: string | null;
}

export interface AppStatus {
  server: ServerStatus;
  dirs: { data: string; logs: string; config: string };
  version: string;
}

export type SignVersion = "v1" | "v4";

export interface ConnectionInfo {
  name: string;
  endpoint: string;
  region: string | null;
  accessKeyId: string | null;
  signVersion: SignVersion;
  local: boolean;
  hasSecret: boolean;
}

export interface ConnectionForm {
  name: string;
  endpoint: string;
  region: string;
  accessKeyId: string;
  accessKeySecret: string;
  signVersion: SignVersion;
}

export type Algorithm = "none" | "AES256" | "SM4" | "KMS";

export interface EncryptionView {
  algorithm: Algorithm;
  keyId?: string | null;
  /** With KMS: "SM4" to encrypt the data with SM4 instead of AES-256. */
  dataEncryption?: "SM4" | null;
}

/** A CMK that writes under a bucket's new KMS rule cannot use (yet): not in the KMS, or not enabled. */
export interface CmkWarning {
  keyId: string;
  /** null: no such key; else its state ("Disabled", "PendingDeletion", "PendingImport"). */
  keyState: string | null;
}

export interface BucketOverview {
  name: string;
  region: string;
  created: string;
  storageClass: string;
  encryption: EncryptionView | null;
  httpsOnly: boolean | null;
  badgeError: string | null;
}

export interface BucketSettings {
  encryption: EncryptionView;
  httpsOnly: boolean;
  acl: string;
}

export interface ObjectRow {
  key: string;
  size: number;
  etag: string;
  lastModified: string | null;
  storageClass: string;
}

export interface ObjectPage {
  folders: string[];
  objects: ObjectRow[];
  nextToken: string | null;
}

export interface CseView {
  format: string;
  wrap: string;
  fingerprint: string | null;
  keyName: string | null;
  keystoreError: string | null;
  kmsKeyId: string | null;
  plaintextSize: number | null;
  invalid: string | null;
}

/** What a list row shows of an object's encryption. */
export interface EncryptionBadges {
  key: string;
  sse: string | null;
  sseKeyId: string | null;
  cse: { keyName: string | null; fingerprint: string | null; kmsKeyId: string | null; invalid: boolean } | null;
  error: string | null;
}

export interface ObjectProperties {
  key: string;
  size: number;
  etag: string;
  crc64: string | null;
  contentType: string | null;
  lastModified: string | null;
  storageClass: string | null;
  /** Of an archived object a restore was asked for. */
  restore: { ongoing: boolean; expiry: string | null } | null;
  /** Versions the bucket keeps of this key (delete markers not counted); null: unknown. */
  versions: number | null;
  tags: [string, string][];
  tagsError: string | null;
  metadata: [string, string][];
  sse: string | null;
  sseKeyId: string | null;
  sseDataEncryption: string | null;
  cse: CseView | null;
}

/** Server-side encryption asked for on an upload instead of the bucket's default. */
export type ObjectSse =
  | { algorithm: "AES256" }
  | { algorithm: "SM4" }
  | { algorithm: "KMS"; keyId: string | null; dataEncryption?: "SM4" | null };

/** Client-side encryption of an upload: a keystore key's name (or `kms:CMK_ID`) and format. */
export interface ClientSideEncryption {
  key: string;
  format: "sealed" | "compat";
}

// The transfer queue's own shapes (ossvault_ops::transfers), as it serialises them.
export type TransferState =
  | { state: "queued" }
  | { state: "running" }
  | { state: "paused" }
  | { state: "completed" }
  | { state: "failed"; code: string; message: string; request_id: string | null }
  | { state: "cancelled" };

export interface TransferInfo {
  id: number;
  batch: number;
  direction: "upload" | "download";
  connection: string;
  bucket: string;
  key: string;
  local: string;
  folder: string | null;
  encryption: ClientSideEncryption | null;
  state: TransferState;
  done: number;
  total: number | null;
  bytes_per_sec: number;
  eta_secs: number | null;
  created_ms: number;
  finished_ms: number | null;
}

export type TransferEvent =
  | { event: "added"; transfer: TransferInfo }
  | { event: "changed"; transfer: TransferInfo }
  | {
      event: "progress";
      id: number;
      done: number;
      total: number | null;
      bytes_per_sec: number;
      eta_secs: number | null;
    }
  | { event: "removed"; id: number }
  | { event: "resync"; transfers: TransferInfo[] };

// Sync (ossvault_sync), as the engine serialises it.
export type SyncMode = "upload" | "two-way" | "download";

export interface SyncPair {
  name: string;
  local: string;
  bucket: string;
  prefix: string;
  key: string | null;
  mode: SyncMode;
  profile: string | null;
  paused: boolean;
  bandwidth_limit: number | null;
}

export type PairState =
  | { state: "stopped" }
  | { state: "idle" }
  | { state: "scanning" }
  | { state: "syncing" }
  | { state: "paused" }
  | { state: "offline"; retry_in_s: number; reason: string }
  | { state: "retrying"; retry_in_s: number; reason: string }
  | { state: "error"; code: string; reason: string };

export type FileState =
  | { state: "pending" }
  | { state: "transferring"; percent: number }
  | { state: "synced" }
  | { state: "conflict"; copy: string }
  | { state: "error"; code: string; reason: string }
  | { state: "skipped"; reason: string };

export type PairStatus = PairState & {
  pair: string;
  files_done: number;
  files_total: number;
  bytes_done: number;
  bytes_total: number;
  indexed: number;
  files: Record<string, FileState>;
  last_sync_ms: number | null;
};

export interface PairOverview {
  pair: SyncPair;
  status: PairStatus;
}

export interface NewPair {
  local: string;
  profile: string;
  bucket: string;
  prefix: string;
  key: string | null;
  mode: SyncMode;
}

export type FileRow = FileState & { path: string; size: number | null };

export interface FilesPage {
  files: FileRow[];
  next: string | null;
}

export interface OpenConflict {
  timeMs: number;
  path: string;
  copy: string;
  localVersion: string;
  remoteVersion: string;
}

export type Resolution = "keep-local" | "keep-remote" | "keep-both";

export interface TrashVersion {
  key: string;
  original: string;
  stamp: string;
  size: number;
}

export interface NotificationSettings {
  conflicts: boolean;
  syncErrors: boolean;
  largeTransfers: boolean;
}

async function call<T>(cmd: string, args?: Record<string, unknown>): Promise<T> {
  try {
    return await invoke<T>(cmd, args);
  } catch (e) {
    throw toAppError(e);
  }
}

export interface KeySummary {
  name: string;
  kind: string;
  fingerprint: string;
  created: string;
  default: boolean;
  currentVersion: number;
  versions: number;
  hasPublicKey: boolean;
  /** An encrypted backup holds every version (exported since the last rotation). */
  backedUp: boolean;
  lastExport: string | null;
}

/** A renamed key, and the sync folders that now name it. */
export interface RenamedKey {
  key: KeySummary;
  syncPairs: string[];
}

export const KEY_KINDS = ["AES-256", "RSA-2048", "RSA-3072", "RSA-4096"] as const;

export interface CmkRow {
  keyId: string;
  state: "Enabled" | "Disabled" | "PendingDeletion" | "PendingImport" | string;
  description: string;
  created: string;
  origin: string;
  deleteDate: string | null;
}

export interface MasterKeyRotated {
  version: number;
  rewrappedObjects: number;
  rewrappedUploads: number;
}

export interface RewrapProgress {
  rewrapped: number;
  failed: number;
  key: string;
}

export interface RewrapResult {
  key: KeySummary;
  resumed: boolean;
  rewrapped: number;
  skipped: number;
  failed: number;
  /** Stopped by cancelRewrap: the counts are those done before the stop. */
  cancelled: boolean;
}

export type LogLevel = "error" | "warn" | "info" | "debug";

export interface ServerSettings {
  httpPort: number;
  httpsPort: number;
  https: boolean;
  dataDir: string | null;
  startWithApp: boolean;
}

export interface AppSettings {
  notifications: { conflicts: boolean; syncErrors: boolean; largeTransfers: boolean };
  server: ServerSettings;
  transfers: { filesAtOnce: number; uploadLimit: number | null; downloadLimit: number | null };
  logLevel: LogLevel;
  startAtLogin: boolean;
  keyPromptDone: boolean;
}

export interface SettingsView {
  settings: AppSettings;
  serverAtStart: ServerSettings;
  loadError: string | null;
  overrides: { address: boolean; httpsAddress: boolean; dataDir: boolean };
  logLevelLive: boolean;
  versions: { app: string; tauri: string; webview: string | null };
}

export const api = {
  appStatus: () => call<AppStatus>("app_status"),
  listConnections: () => call<ConnectionInfo[]>("list_connections"),
  saveConnection: (form: ConnectionForm) => call<ConnectionInfo>("save_connection", { form }),
  removeConnection: (name: string) => call<void>("remove_connection", { name }),
  testConnection: (name: string) => call<number>("test_connection", { name }),
  listBuckets: (connection: string) => call<BucketOverview[]>("list_buckets", { connection }),
  createBucket: (connection: string, name: string, acl: string | null) =>
    call<void>("create_bucket", { connection, name, acl }),
  deleteBucket: (connection: string, name: string, empty: boolean, confirmName: string | null) =>
    call<number>("delete_bucket", { connection, name, empty, confirmName }),
  bucketSettings: (connection: string, bucket: string) =>
    call<BucketSettings>("bucket_settings", { connection, bucket }),
  setBucketEncryption: (connection: string, bucket: string, encryption: EncryptionView) =>
    call<CmkWarning | null>("set_bucket_encryption", { connection, bucket, encryption }),
  setHttpsOnly: (connection: string, bucket: string, on: boolean) =>
    call<void>("set_https_only", { connection, bucket, on }),
  setBucketAcl: (connection: string, bucket: string, acl: string) =>
    call<void>("set_bucket_acl", { connection, bucket, acl }),
  listKmsKeys: (connection: string) => call<{ keyId: string }[]>("list_kms_keys", { connection }),
  listObjects: (connection: string, bucket: string, prefix: string, token: string | null) =>
    call<ObjectPage>("list_objects", { connection, bucket, prefix, token }),
  createFolder: (connection: string, bucket: string, prefix: string, name: string) =>
    call<string>("create_folder", { connection, bucket, prefix, name }),
  deleteObjects: (connection: string, bucket: string, keys: string[], folders: string[]) =>
    call<{ deleted: number; notDeleted: number }>("delete_objects", {
      connection,
      bucket,
      keys,
      folders,
    }),
  objectBadges: (connection: string, bucket: string, keys: string[]) =>
    call<EncryptionBadges[]>("object_badges", { connection, bucket, keys }),
  objectProperties: (connection: string, bucket: string, key: string) =>
    call<ObjectProperties>("object_properties", { connection, bucket, key }),
  presignUrl: (connection: string, bucket: string, key: string, expiresSecs: number) =>
    call<string>("presign_url", { connection, bucket, key, expiresSecs }),
  uploadPaths: (
    connection: string,
    bucket: string,
    prefix: string,
    paths: string[],
    encryption: ClientSideEncryption | null,
    serverSide: ObjectSse | null = null,
  ) => call<number[]>("upload_paths", { connection, bucket, prefix, paths, encryption, serverSide }),
  download: (connection: string, bucket: string, keys: string[], destination: string) =>
    call<number[]>("download_objects", { connection, bucket, keys, destination }),
  listTransfers: () => call<TransferInfo[]>("list_transfers"),
  watchTransfers: (onEvent: (e: TransferEvent) => void) => {
    const channel = new Channel<TransferEvent>();
    channel.onmessage = onEvent;
    return call<void>("watch_transfers", { channel });
  },
  transferAction: (id: number, action: "pause" | "resume" | "cancel" | "retry") =>
    call<void>("transfer_action", { id, action }),
  clearFinished: () => call<number>("clear_finished_transfers"),
  settingsGet: () => call<SettingsView>("settings_get"),
  settingsSet: (settings: AppSettings) => call<AppSettings>("settings_set", { settings }),
  openLogFolder: () => call<void>("open_log_folder"),
  listKeys: () => call<KeySummary[]>("list_keys"),
  generateKey: (name: string, kind: string) => call<KeySummary>("generate_key", { name, kind }),
  importKey: (name: string, path: string | null, text: string | null) =>
    call<KeySummary>("import_key", { name, path, text }),
  exportKeyBackup: (name: string, passphrase: string, confirm: string, path: string) =>
    call<void>("export_key_backup", { name, passphrase, confirm, path }),
  restoreKeyBackup: (path: string, passphrase: string, name: string | null) =>
    call<KeySummary>("restore_key_backup", { path, passphrase, name }),
  keyPublicPem: (name: string) => call<string>("key_public_pem", { name }),
  setDefaultKey: (name: string) => call<KeySummary>("set_default_key", { name }),
  rotateKey: (name: string) => call<KeySummary>("rotate_key", { name }),
  renameKey: (name: string, newName: string) => call<RenamedKey>("rename_key", { name, newName }),
  rotateKeyRewrap: (
    name: string,
    connection: string,
    bucket: string,
    prefix: string,
    onProgress: (p: RewrapProgress) => void,
  ) => {
    const progress = new Channel<RewrapProgress>();
    progress.onmessage = onProgress;
    return call<RewrapResult>("rotate_key_rewrap", { name, connection, bucket, prefix, progress });
  },
  cancelRewrap: (name: string) => call<boolean>("cancel_rewrap", { name }),
  deleteKey: (name: string, confirmName: string) => call<void>("delete_key", { name, confirmName }),
  kmsListKeys: (connection: string) => call<CmkRow[]>("kms_list_keys", { connection }),
  kmsCreateKey: (connection: string, description: string | null, external: boolean) =>
    call<CmkRow>("kms_create_key", { connection, description, external }),
  kmsSetKeyEnabled: (connection: string, keyId: string, enabled: boolean) =>
    call<void>("kms_set_key_enabled", { connection, keyId, enabled }),
  kmsScheduleDeletion: (connection: string, keyId: string, days: number) =>
    call<void>("kms_schedule_deletion", { connection, keyId, days }),
  kmsCancelDeletion: (connection: string, keyId: string) =>
    call<void>("kms_cancel_deletion", { connection, keyId }),
  kmsImportMaterial: (connection: string, keyId: string, path: string) =>
    call<CmkRow>("kms_import_material", { connection, keyId, path }),
  kmsRotateMasterKey: (connection: string) =>
    call<MasterKeyRotated>("kms_rotate_master_key", { connection }),
  listSyncPairs: () => call<PairOverview[]>("list_sync_pairs"),
  watchSync: (onUpdate: (all: PairOverview[]) => void) => {
    const channel = new Channel<PairOverview[]>();
    channel.onmessage = onUpdate;
    return call<void>("watch_sync", { channel });
  },
  addSyncPair: (pair: NewPair) => call<SyncPair>("add_sync_pair", { pair }),
  pauseSyncPair: (name: string) => call<void>("pause_sync_pair", { name }),
  resumeSyncPair: (name: string) => call<void>("resume_sync_pair", { name }),
  removeSyncPair: (name: string) => call<void>("remove_sync_pair", { name }),
  setSyncBandwidth: (name: string, limit: number | null) =>
    call<SyncPair>("set_sync_bandwidth", { name, limit }),
  syncFiles: (name: string, after: string | null, limit: number) =>
    call<FilesPage>("sync_files", { name, after, limit }),
  syncConflicts: (name: string) => call<OpenConflict[]>("sync_conflicts", { name }),
  resolveSyncConflict: (name: string, copy: string, resolution: Resolution) =>
    call<OpenConflict>("resolve_sync_conflict", { name, copy, resolution }),
  openSyncConflictVersion: (name: string, copy: string, remote: boolean) =>
    call<void>("open_sync_conflict_version", { name, copy, remote }),
  syncTrash: (name: string) => call<TrashVersion[]>("sync_trash", { name }),
  restoreSyncVersion: (name: string, key: string, stamp: string) =>
    call<{ path: string }>("restore_sync_version", { name, key, stamp }),
  syncIgnoreRules: (name: string) => call<string>("sync_ignore_rules", { name }),
  setSyncIgnoreRules: (name: string, rules: string) =>
    call<void>("set_sync_ignore_rules", { name, rules }),
  notificationSettings: () => call<NotificationSettings>("notification_settings"),
  setNotificationSettings: (notifications: NotificationSettings) =>
    call<void>("set_notification_settings", { notifications }),
  /** The tray and the notifications speak the UI's language. */
  setUiLanguage: (language: Locale) => call<void>("set_ui_language", { language }),
};
