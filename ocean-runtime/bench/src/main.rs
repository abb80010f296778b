//! `ocean-bench`: the repository's harnesses. `bench` measures the ceiling, intake, end to end, latency
//! and memory in one run; `faults` kills, terminates, storms and starves the GitHub example and shows
//! that no acknowledged event is lost. Both read the repository's corpus and build its examples, so they
//! are not part of the published crates.

// A command-line tool: standard output is its interface.
#![allow(clippy::print_stdout)]

mod bench;
mod disk;
mod drive;
mod example;
mod fake_port;
mod faults;
mod floor;
mod load;
mod payloads;
mod replicas;
mod resync;

use clap::{Parser, Subcommand};

// The ceiling (a bare actix-web handler) runs in this process: it gets the allocator the example has.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "ocean-bench", about = "Benchmarks and fault harness of the ocean repository")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Measure the ceiling, intake, end to end, latency and memory in one run.
    Bench(bench::Args),
    /// Kill, terminate, storm and starve (a faulty Port) a running example; show that no acknowledged event is lost.
    Faults(faults::Args),
    /// Send the bench's load to a server started by hand, for profiling.
    Load(drive::Args),
}

fn main() -> std::process::ExitCode {
    // The servers the harnesses start (ceiling, Port on loopback) would announce their workers at info.
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,actix_server=warn".into());
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_target(false).try_init();
    ocean::install_crypto_provider();
    let result = match Cli::parse().command {
        Command::Bench(a) => bench::run(a),
        Command::Faults(a) => faults::run(a),
        Command::Load(a) => drive::run(a),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
