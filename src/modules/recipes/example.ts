// `sensorflow recipes --example`: a commented recipes file with typical dairy values, embedded in the
// executable so a plant PC with one file can start from it.
export const EXAMPLE_RECIPES = `# SensorFlow recipes (RECIPES_FILE). TOML; JSON with the same shape works too.
# A recipe is a circuit's cleaning program: its phases in order, each with a minimum time within
# limits (TACT: Time, Action = flow, Concentration, Temperature) and limits per metric.
#   limits.<metric> = { min = …, max = …, caution = { min = …, max = … } }
#     outside min/max for longer than debounce_s  -> alarm, and FAIL for that metric and phase
#     outside the caution band (but within limits) -> CAUTION
#   signature.<metric> = { min = …, max = … }
#     how SensorFlow recognises the phase when a board does not send "phase" with its readings
# Metrics: temperature (°C), pressure (bar), concentration (% chemical), flow (m³/h). Times: seconds.

debounce_s = 10   # out of limits this long raises an alarm; back within limits this long clears it

# Which circuit (device id) runs which recipe. Also settable with PUT /api/devices/<device>.
[devices]
line-1 = "dairy-5-step"

[recipes.dairy-5-step]
version = "2024-01"
description = "Pasteuriser and milk lines: 5-step CIP with caustic and acid"

[[recipes.dairy-5-step.phases]]
name = "pre-rinse"
min_duration_s = 300                       # 5 min
signature.concentration = { max = 0.2 }
signature.temperature = { max = 55 }
limits.flow = { min = 1.5 }

[[recipes.dairy-5-step.phases]]
name = "caustic"
min_duration_s = 600                       # 10 min within limits
signature.concentration = { min = 0.3 }
signature.temperature = { min = 55 }
limits.temperature = { min = 70, max = 80, caution = { min = 72, max = 78 } }
limits.concentration = { min = 0.5, max = 2.0, caution = { min = 0.8, max = 1.5 } }
limits.flow = { min = 1.5 }

[[recipes.dairy-5-step.phases]]
name = "intermediate rinse"
min_duration_s = 180
signature.concentration = { max = 0.2 }
limits.flow = { min = 1.5 }

[[recipes.dairy-5-step.phases]]
name = "acid"
min_duration_s = 300
signature.concentration = { min = 0.3 }
signature.temperature = { min = 45 }
limits.temperature = { min = 60, max = 70 }
limits.concentration = { min = 0.5, max = 1.5 }
limits.flow = { min = 1.5 }

[[recipes.dairy-5-step.phases]]
name = "final rinse"
min_duration_s = 180
signature.concentration = { max = 0.05 }
limits.concentration = { max = 0.05 }
limits.flow = { min = 1.5 }
`;
