//! `launch`: the launch-day load test against the real local stack.
//! `cargo xtask bench` runs it; see `launch --help`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use waitroom_core::operator::Pacing;
use waitroom_e2e::launch::{self, Options, StackPlace};
use xtask::stack::Ports;

const HELP: &str = "\
launch [flags]: simulate a citizen stampede against the local stack (loopback only)

  --citizens N        citizens (default 3000)
  --shards N          QueueShards (default 8)
  --abandon F         share of citizens who stop polling at a random time (default 0.1)
  --away F            share of the others who leave the page once a hold lets them and
                      come back: within the hold, or (a fifth of them) after it (default 0)
  --max-away-minutes N  the room's max_away_minutes (default: wrangler.toml's)
  --registry-rate N   registry limit in calls/s; admissions are paced to it (default 25)
  --admit-per-minute N  admission pacing: the rate, or with --pacing origin the
                      ceiling (default: registry rate x 60)
  --pacing P          fixed | origin (default origin: follow the origin's capacity)
  --registry-changes SPEC  what the registry does mid-run, SECONDS:RATE|down|up,...
                      after the doors open, e.g. 40:5,80:down,100:20
  --total-active N    active-session cap (default: one minute of admissions)
  --session-minutes N admission lifetime (default 10)
  --burst S           arrival window in seconds, front-loaded (default 60)
  --abandon-after S   heartbeat grace in seconds, >= 15 (default 45)
  --time-limit S      hard bound on the run in seconds (default 240)
  --seed N            plan seed (default 2021)
  --port-block N      xtask::stack port block (default 90)
  --bin-dir DIR       where origin-worker/registry-sim are (default target/release)
  --out DIR           NAME.json + NAME.png (default target/bench)
  --name NAME         file stem (default launch)
  --throughput-ratio F  heartbeat/bare ratio measured by the bench, copied into the report
  --wrangler-dev      run the edge under `wrangler dev` (default: workerd via Miniflare,
                      without wrangler's ~3x proxy overhead)
  --no-progress       no progress bar
";

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("launch: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    xtask::proc::stop_all_on_interrupt()?;
    let mut opts = Options {
        out_dir: Some(xtask::target_dir().join("bench")),
        ..Options::default()
    };
    let mut block = 90;
    let mut bin_dir = xtask::target_dir().join("release");
    let mut ratio = None;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        let num = |v: String| {
            v.parse::<f64>()
                .map_err(|_| format!("{flag}: not a number: {v}"))
        };
        match flag.as_str() {
            "--citizens" => opts.citizens = num(value()?)? as usize,
            "--shards" => opts.shards = num(value()?)? as u32,
            "--abandon" => opts.abandon = num(value()?)?.clamp(0.0, 1.0),
            "--away" => opts.away = num(value()?)?.clamp(0.0, 1.0),
            "--max-away-minutes" => opts.max_away_minutes = Some(num(value()?)? as u64),
            "--registry-rate" => opts.registry_rate = num(value()?)?.max(1.0) as u32,
            "--admit-per-minute" => opts.admit_per_minute = Some(num(value()?)? as u32),
            "--pacing" => {
                opts.pacing = match value()?.as_str() {
                    "fixed" => Pacing::Fixed,
                    "origin" => Pacing::Origin,
                    other => return Err(format!("--pacing: fixed or origin, not {other}")),
                }
            }
            "--registry-changes" => {
                opts.registry_changes = launch::RegistryChange::parse_list(&value()?)?
            }
            "--total-active" => opts.total_active = Some(num(value()?)? as u32),
            "--session-minutes" => opts.session_minutes = num(value()?)?.max(1.0) as u64,
            "--name" => opts.out_name = value()?,
            "--burst" => opts.burst = Duration::from_secs_f64(num(value()?)?),
            "--abandon-after" => opts.abandon_after_seconds = num(value()?)?.max(15.0) as u64,
            "--time-limit" => opts.time_limit = Duration::from_secs_f64(num(value()?)?),
            "--seed" => opts.seed = num(value()?)? as u64,
            "--port-block" => block = num(value()?)? as u16,
            "--bin-dir" => bin_dir = PathBuf::from(value()?),
            "--out" => opts.out_dir = Some(PathBuf::from(value()?)),
            "--throughput-ratio" => ratio = Some(num(value()?)?),
            "--no-progress" => opts.progress_bar = false,
            "--wrangler-dev" => opts.edge_runner = xtask::stack::EdgeRunner::WranglerDev,
            "--help" | "-h" => {
                print!("{HELP}");
                return Ok(());
            }
            other => return Err(format!("unknown flag {other}\n\n{HELP}")),
        }
    }
    if !bin_dir.join("origin-worker").exists() {
        return Err(format!(
            "no origin-worker in {} (cargo build --profile bench -p origin-worker --bins)",
            bin_dir.display()
        ));
    }
    let place = StackPlace {
        ports: Ports::block(block),
        state_dir: xtask::target_dir().join(format!("bench/{}-state", opts.out_name)),
        bin_dir,
    };
    let mut report = launch::run_with_stack(&opts, &place)?;
    report.throughput_ratio = ratio;
    if let Some(dir) = &opts.out_dir {
        report.write(dir, &opts.out_name)?;
    }
    print!("{}", report.table());
    if let Some(dir) = &opts.out_dir {
        println!(
            "launch: wrote {} and {}",
            dir.join(format!("{}.json", opts.out_name)).display(),
            dir.join(format!("{}.png", opts.out_name)).display()
        );
    }
    Ok(())
}
