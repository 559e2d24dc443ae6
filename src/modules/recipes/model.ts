import { t } from "elysia";

const Range = t.Object(
  { min: t.Optional(t.Number()), max: t.Optional(t.Number()) },
  { additionalProperties: false, description: "inclusive bounds; either may be left out" },
);
export type Range = typeof Range.static;

const Limit = t.Object(
  {
    min: t.Optional(t.Number()),
    max: t.Optional(t.Number()),
    caution: t.Optional(Range),
  },
  { additionalProperties: false, description: "outside min/max is out of limits; outside the caution band (inside the limits) is CAUTION" },
);
export type Limit = typeof Limit.static;

const Metrics = <T extends typeof Range | typeof Limit>(of: T) =>
  t.Object(
    { temperature: t.Optional(of), pressure: t.Optional(of), concentration: t.Optional(of), flow: t.Optional(of) },
    { additionalProperties: false },
  );

export const Phase = t.Object(
  {
    name: t.String({ minLength: 1, maxLength: 64 }),
    min_duration_s: t.Number({ minimum: 0, description: "time the phase must spend within its limits" }),
    limits: t.Optional(Metrics(Limit)),
    signature: t.Optional(Metrics(Range)),
  },
  { additionalProperties: false },
);
export type Phase = typeof Phase.static;

export const Recipe = t.Object(
  {
    version: t.String({ minLength: 1 }),
    description: t.Optional(t.String()),
    phases: t.Array(Phase, { minItems: 1 }),
  },
  { additionalProperties: false },
);
export type Recipe = typeof Recipe.static;

export const RecipesFile = t.Object(
  {
    debounce_s: t.Optional(t.Number({ minimum: 0, description: "how long a value must stay out of (or back within) limits to raise (or clear) an alarm" })),
    devices: t.Optional(t.Record(t.String(), t.String())),
    recipes: t.Record(t.String(), Recipe),
  },
  { additionalProperties: false },
);
export type RecipesFile = typeof RecipesFile.static;

export const DeviceSettings = t.Object({ recipe: t.Union([t.String({ minLength: 1 }), t.Null()], { description: "recipe name, or null for none" }) });
