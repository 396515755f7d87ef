import { LlamaCppProvider } from '../../src/adapters/llm/llama-cpp.js';
import { llmContract } from './llm.contract.js';

// Real inference with a 260K-parameter GGUF (see /work/shared/models/README.md): its text is nonsense, its mechanics are real.
const MODEL = '/work/shared/models/stories260K/stories260K.gguf';

llmContract('llama-cpp (stories260K)', () => LlamaCppProvider.load({ modelPath: MODEL, threads: 1 }));
