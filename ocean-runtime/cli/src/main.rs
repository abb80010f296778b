//! The `ocean` command: start an integration crate (`new`), try a mapping without a server (`map`), send
//! signed payloads to a running integration (`send`), manage its dead letters (`dlq`), resync it (`resync`).

// A command-line tool: standard output is its interface.
#![allow(clippy::print_stdout)]

mod dlq;
mod map;
mod new;
mod resync;
mod send;

use clap::{Parser, Subcommand};

// A short-lived tool that maps many small JSON and jq values: the allocator of the examples.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "ocean", version, about = "Tools for ocean integrations")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create an integration crate: a processor, its `.port/` files, a passing test and a README.
    New(new::Args),
    /// Map raw items with a Port app config and print the entities (one JSON object per line).
    Map(map::Args),
    /// POST payloads to a running integration with the provider's headers and a valid signature.
    Send(send::Args),
    /// List, inspect, replay and delete dead letters of a running integration.
    Dlq(dlq::Args),
    /// Resync a running integration (every kind, or one) and show its progress.
    Resync(resync::Args),
}

fn main() -> std::process::ExitCode {
    // Log lines go to standard error: standard output carries the command's results.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let _ =
        tracing_subscriber::fmt().with_env_filter(filter).with_target(false).with_writer(std::io::stderr).try_init();
    ocean::install_crypto_provider();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::New(a) => new::run(a),
        Command::Map(a) => map::run(a),
        Command::Send(a) => send::run(a),
        Command::Dlq(a) => dlq::run(a),
        Command::Resync(a) => resync::run(a),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
