//! One module per subcommand.

pub mod export;
pub mod import;
pub mod lock;
pub mod status;
pub mod verify;
