//! `merchant-operator`: command-line entry point. Parses the CLI and dispatches; nothing else.

use std::{io::Read, process::ExitCode};

use clap::Parser;
use merchant_operator::{
    app,
    cli::{Cli, Command},
    crd, healthcheck, render, telemetry,
};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Run(args) => run(args),
        Command::Crd { name } => match crd::crds_yaml(name.as_deref()) {
            Ok(Some(yaml)) => {
                print!("{yaml}");
                ExitCode::SUCCESS
            }
            Ok(None) => {
                eprintln!(
                    "merchant-operator crd: no CRD named {}",
                    name.unwrap_or_default()
                );
                ExitCode::FAILURE
            }
            Err(e) => fail(&e),
        },
        Command::Render { file } => {
            let input = if file.as_os_str() == "-" {
                let mut text = String::new();
                std::io::stdin().read_to_string(&mut text).map(|_| text)
            } else {
                std::fs::read_to_string(&file)
            };
            match input
                .map_err(|e| e.to_string())
                .and_then(|t| render::render(&t).map_err(|e| telemetry::chain(&e)))
            {
                Ok(out) => {
                    print!("{out}");
                    ExitCode::SUCCESS
                }
                Err(message) => {
                    eprintln!("merchant-operator render: {message}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Healthcheck(args) => match runtime(1) {
            Ok(rt) => rt.block_on(healthcheck::run(&args)),
            Err(e) => fail(&e),
        },
    }
}

fn run(args: merchant_operator::cli::RunArgs) -> ExitCode {
    telemetry::init(args.log_format);
    let runtime = match runtime(args.worker_threads) {
        Ok(rt) => rt,
        Err(e) => return fail(&e),
    };
    match runtime.block_on(app::run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(category = e.category(), error = %telemetry::chain(&e), "merchant-operator stopped");
            eprintln!("merchant-operator: {}", telemetry::chain(&e));
            ExitCode::FAILURE
        }
    }
}

fn runtime(threads: u16) -> std::io::Result<tokio::runtime::Runtime> {
    if threads <= 1 {
        return tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build();
    }
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(usize::from(threads))
        .enable_all()
        .build()
}

fn fail(e: &dyn std::error::Error) -> ExitCode {
    eprintln!("merchant-operator: {}", telemetry::chain(e));
    ExitCode::FAILURE
}
