// Recipes: which cleaning program a device runs, and which phase each reading belongs to, either as
// the board sent it or as recognised from the recipe's signatures.
import { readFileSync } from "node:fs";
import { Value } from "@sinclair/typebox/value";
import { parse as parseToml, TomlError } from "smol-toml";
import { ConfigError } from "../../config";
import { describeErrors } from "../../errors";
import { METRICS } from "../cycles/model";
import type { Sample } from "../readings/model";
import { RecipesFile, type Phase, type Range, type Recipe } from "./model";

export interface PhaseOf {
  /** Index in the recipe's phases, or -1 between phases. */
  index: number;
  name: string | null;
  source: "sent" | "inferred";
}

export interface Recipes {
  readonly file: RecipesFile;
  readonly debounceMs: number;
  recipeOf(device: string): { name: string; recipe: Recipe } | undefined;
  assign(device: string, recipe: string | null): void;
  assignments(): Record<string, string>;
  /** The phase of a reading of `device` in cycle `cipId` (phases only move forward within a cycle). */
  phaseOf(device: string, cipId: number, reading: Sample): PhaseOf | undefined;
}

/** Reads and checks RECIPES_FILE; any mistake stops start-up with a sentence naming the line or field. */
export function loadRecipesFile(path: string): RecipesFile {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    throw new ConfigError(`RECIPES_FILE ${path}: cannot read the file.`);
  }
  let data: unknown;
  try {
    data = path.endsWith(".json") ? JSON.parse(text) : parseToml(text);
  } catch (error) {
    if (error instanceof TomlError) {
      throw new ConfigError(`RECIPES_FILE ${path}, line ${error.line}, column ${error.column}: ${error.message.split("\n")[0]}`);
    }
    throw new ConfigError(`RECIPES_FILE ${path}: ${error instanceof Error ? error.message : error}`);
  }
  return checkRecipes(data, `RECIPES_FILE ${path}`);
}

export function checkRecipes(data: unknown, where: string): RecipesFile {
  if (!Value.Check(RecipesFile, data)) {
    const [first] = describeErrors(Value.Errors(RecipesFile, data), "file");
    throw new ConfigError(`${where}: ${first?.field ?? "file"} ${first?.message ?? "is not a recipes file"}.`);
  }
  for (const [name, recipe] of Object.entries(data.recipes)) {
    const seen = new Set<string>();
    for (const phase of recipe.phases) {
      if (seen.has(phase.name)) throw new ConfigError(`${where}: recipes.${name} has two phases named "${phase.name}".`);
      seen.add(phase.name);
      for (const metric of METRICS) {
        const limit = phase.limits?.[metric];
        if (limit && limit.min !== undefined && limit.max !== undefined && limit.min > limit.max) {
          throw new ConfigError(`${where}: recipes.${name}, phase "${phase.name}": limits.${metric} has min above max.`);
        }
      }
    }
  }
  for (const [device, recipe] of Object.entries(data.devices ?? {})) {
    if (!data.recipes[recipe]) throw new ConfigError(`${where}: devices.${device} names recipe "${recipe}", which the file does not define.`);
  }
  return data;
}

const inRange = (value: number, range: Range | undefined) =>
  range === undefined || ((range.min === undefined || value >= range.min) && (range.max === undefined || value <= range.max));

/**
 * Whether a reading looks like the phase: true, false, or undefined when none of the signature's
 * metrics has a value (a failed sensor neither confirms nor contradicts a phase).
 */
export function signatureFit(phase: Phase, reading: Sample): boolean | undefined {
  if (!phase.signature) return false;
  let known = 0;
  for (const metric of METRICS) {
    const range = phase.signature[metric];
    const value = reading[metric];
    if (range === undefined || value === null || value === undefined) continue;
    if (!inRange(value, range)) return false;
    known++;
  }
  return known > 0 ? true : undefined;
}

export function createRecipes(file: RecipesFile, saved: Record<string, string | null> = {}): Recipes {
  const assigned = new Map<string, string>(Object.entries(file.devices ?? {}));
  for (const [device, recipe] of Object.entries(saved)) {
    if (recipe === null) assigned.delete(device);
    else if (file.recipes[recipe]) assigned.set(device, recipe);
  }
  const progress = new Map<string, { cipId: number; index: number }>();

  return {
    file,
    debounceMs: (file.debounce_s ?? 10) * 1000,
    recipeOf(device) {
      const name = assigned.get(device);
      return name === undefined ? undefined : { name, recipe: file.recipes[name]! };
    },
    assign(device, recipe) {
      if (recipe === null) assigned.delete(device);
      else assigned.set(device, recipe);
      progress.delete(device);
    },
    assignments: () => Object.fromEntries(assigned),
    phaseOf(device, cipId, reading) {
      const name = assigned.get(device);
      if (name === undefined) return undefined;
      const phases = file.recipes[name]!.phases;
      let state = progress.get(device);
      if (!state || state.cipId !== cipId) progress.set(device, (state = { cipId, index: -1 }));
      if (reading.phase !== undefined) {
        const index = phases.findIndex((p) => p.name === reading.phase);
        if (index >= 0) state.index = Math.max(state.index, index);
        return { index, name: reading.phase, source: "sent" };
      }
      // Stay in the current phase while it fits; otherwise the next phase (forward only) that fits.
      const current = phases[state.index];
      // A reading whose sensors cannot tell (failed) stays in the phase it was in.
      if (current && signatureFit(current, reading) !== false) return { index: state.index, name: current.name, source: "inferred" };
      for (let i = state.index + 1; i < phases.length; i++) {
        if (signatureFit(phases[i]!, reading) === true) {
          state.index = i;
          return { index: i, name: phases[i]!.name, source: "inferred" };
        }
      }
      return { index: -1, name: null, source: "inferred" };
    },
  };
}
