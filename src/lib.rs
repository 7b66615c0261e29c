//! kubectl calico-migrate: move Calico from the etcd datastore to the Kubernetes datastore.
//!
//! `main.rs` only calls [`main`]. The layers, top down: [`cli`] (flags, and the only user of
//! clap) and [`commands`] (one per subcommand: run a stage, render its report through
//! [`console`], the one owner of output); [`stages`] (one job each, returning a report) on a
//! [`session`] (the connections); the two datastores ([`etcd`], [`kdd`]); and the pure
//! conversion core ([`convert`], [`kinds`], [`format`]).

// Errors here carry what was tried (sources, paths, endpoints) so that the message can say it;
// they travel once, on the way out, so their size does not matter.
#![allow(clippy::result_large_err)]

pub mod atomic_file;
pub mod batch;
pub mod build_info;
pub mod cli;
pub mod commands;
pub mod console;
pub mod convert;
pub mod digest;
pub mod error;
pub mod etcd;
pub mod format;
pub mod input;
pub mod journal;
pub mod kdd;
pub mod kinds;
pub mod permissions;
pub mod sample;
pub mod session;
pub mod source;
pub mod stages;

use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Command};
use console::Console;
use error::Error;
use session::Session;

/// Parses the command line, runs the command, reports any failure, and returns the exit code.
pub fn main() -> ExitCode {
    few_malloc_arenas();
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args
        .get(1)
        .is_some_and(|a| a == commands::completion::COMPLETE_COMMAND)
    {
        return commands::completion::complete_main(&args[2..]);
    }
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return ExitCode::from(if error.use_stderr() {
                error::EXIT_USAGE
            } else {
                0
            });
        }
    };
    let console = Console::new(
        cli.global.quiet,
        cli.global.verbose,
        cli.global.output.into(),
    );
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            console.error(
                &format!("cannot start the async runtime: {error}"),
                &[],
                None,
            );
            return ExitCode::from(error::EXIT_FAILED);
        }
    };
    let session = Session {
        kube: cli.global.kube_options(),
        namespace: cli.global.namespace.clone(),
        etcd: (&cli.global.etcd).into(),
        saved_etcd_config: None,
        progress: console.progress().clone(),
    };
    let outcome = runtime.block_on(async {
        tokio::select! {
            result = run(&session, &console, &cli.command) => Some(result),
            _ = tokio::signal::ctrl_c() => None,
        }
    });
    // Whatever is still running (writes in flight, a reader) is given half a second to see
    // the end; every stage is safe to stop anywhere and to run again.
    runtime.shutdown_timeout(std::time::Duration::from_millis(500));
    match outcome {
        Some(Ok(())) => ExitCode::SUCCESS,
        Some(Err(error)) if error.is_broken_pipe() => ExitCode::SUCCESS,
        Some(Err(error)) => {
            console.error(&error.to_string(), &error.causes(), error.hint().as_deref());
            error.exit_code()
        }
        None => {
            let (message, hint) = commands::interrupted(
                &cli.command,
                &console.progress().counted(),
                &cli::command_line(),
            );
            console.error(&message, &[], Some(&hint));
            ExitCode::from(error::EXIT_INTERRUPTED)
        }
    }
}

async fn run(session: &Session, console: &Console, command: &Command) -> Result<(), Error> {
    match command {
        Command::Plan(args) => commands::plan::run(session, console, args).await,
        Command::Run(args) => commands::run::run(session, console, args).await,
        Command::Rollback(args) => commands::rollback::run(session, console, args).await,
        Command::Status => commands::status::run(session, console).await,
        Command::Lock(args) => commands::lock::run(session, console, args, true).await,
        Command::Unlock(args) => commands::lock::run(session, console, args, false).await,
        Command::Export(args) => commands::export::run(session, console, args).await,
        Command::Import(args) => commands::import::run(session, console, args).await,
        Command::Verify(args) => commands::verify::run(session, console, args).await,
        Command::Version => commands::version::run(console),
        Command::Completion(args) => commands::completion::run(console, args),
    }
}

/// glibc gives every thread that allocates its own arena and keeps what is freed there for
/// that thread: with the runtime's worker threads, the reader thread and the blocking pool, an
/// import's peak memory was half again what it holds (118 MiB against 80 MiB for 15,000 objects,
/// `cargo bench --bench migration`). Two arenas are enough for a client.
fn few_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets a tuning parameter of the allocator; called before any thread
    // starts.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}
