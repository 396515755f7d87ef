import { fileURLToPath } from 'node:url';

/** The repository's root (where `npx tsx` entries and module scripts resolve './src/...'). */
export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** `../shared` beside the repository (CI clones the repo next to it). */
export const SHARED_DIR = fileURLToPath(new URL('../../../shared/', import.meta.url));
export const LARA_DIR = `${SHARED_DIR}datasets/lara`;
export const STORIES_GGUF = `${SHARED_DIR}models/stories260K/stories260K.gguf`;
export const QDRANT_OPENAPI = `${SHARED_DIR}schemas/qdrant/openapi.json`;
