//! wordpiece (being built).
