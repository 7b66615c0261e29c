//! One module per subcommand.

pub mod lock;
pub mod status;
