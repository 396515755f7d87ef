import { ExtractiveReader } from '../../src/adapters/llm/extractive.js';
import { llmContract } from './llm.contract.js';
import { HashingEmbedder } from './llm-test-embedder.js';

llmContract(
  'extractive (hashing test embedder)',
  async () => new ExtractiveReader({ embedder: new HashingEmbedder() }),
);
