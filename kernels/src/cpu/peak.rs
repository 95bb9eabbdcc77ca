//! Machine peak probe: measured f32 / bf16 FMA throughput (being built).
