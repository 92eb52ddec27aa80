/**
 * The configuration each function reads, as the deploy runner needs it (which variables must be
 * set, which may be, which come from Secret Manager): the tables functions/platform/config.ts
 * parses them with, so a function is deployed with exactly the variables it reads.
 */
import { FUNCTION_NAMES, variablesFor as configVariablesFor, type FunctionName } from '../../functions/platform/config.js';

export interface FunctionVariables {
  readonly required: readonly string[];
  readonly optional: readonly string[];
  readonly secrets: readonly string[];
}

export function variablesFor(fn: string): FunctionVariables {
  const known: readonly string[] = FUNCTION_NAMES;
  if (!known.includes(fn)) throw new Error(`function ${fn} of infra/topology.ts is not in FUNCTION_NAMES of functions/platform/config.ts`);
  return configVariablesFor(fn as FunctionName);
}
