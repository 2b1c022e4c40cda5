use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = davit::cli::Cli::parse();
    match davit::cli::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("davit: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
