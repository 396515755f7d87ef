import { countTokens as cl100kCount, encode as cl100kEncode, decode as cl100kDecode } from 'gpt-tokenizer/encoding/cl100k_base';

/**
 * The service tokenizer: OpenAI's cl100k_base BPE (the "gpt-4" encoding that
 * LaRA used to measure and truncate its documents), from gpt-tokenizer, which
 * ships its ranks inside the npm package.
 * Providers that know their own model's tokenizer use that instead for prompts.
 */
export interface Tokenizer {
  readonly name: string;
  count(text: string): number;
  encode(text: string): number[];
  decode(tokens: readonly number[]): string;
}

export const cl100k: Tokenizer = Object.freeze({
  name: 'cl100k_base',
  count: (text: string) => (text.length === 0 ? 0 : cl100kCount(text)),
  encode: (text: string) => cl100kEncode(text),
  decode: (tokens: readonly number[]) => cl100kDecode(tokens as number[]),
});
