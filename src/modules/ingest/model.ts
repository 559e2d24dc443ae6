import { t } from "elysia";
import { ReadingInput } from "../readings/model";

export const MAX_BATCH = 1000;
export const ReadingBatch = t.Union([ReadingInput, t.Array(ReadingInput, { minItems: 1, maxItems: MAX_BATCH })], {
  description: `One reading, or an array of 1 to ${MAX_BATCH} readings (all-or-nothing)`,
});
