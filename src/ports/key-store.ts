/** An API key as stored: never the key itself, only its hash. */
export interface ApiKeyRecord {
  /** Public id of the key (safe to show and log). */
  id: string;
  /** sha256 of the secret, hex. */
  hash: string;
  namespace: string;
  name: string;
  createdAt: string;
}

export interface KeyStore {
  /** The key whose secret hashes to `hash`, or null. */
  findByHash(hash: string): Promise<ApiKeyRecord | null>;
  add(record: ApiKeyRecord): Promise<void>;
  list(namespace?: string): Promise<ApiKeyRecord[]>;
  /** Returns false when no key has this id. */
  remove(id: string): Promise<boolean>;
  close(): Promise<void>;
}
