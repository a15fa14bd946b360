//! `cloudbase-emulator`: runs the local CloudBase (auth, cloud storage, and cloud functions, cloud run
//! services and APIs forwarded to local servers) until Ctrl-C.

use std::io::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Arg, ArgAction, Command, value_parser};
use cloudbase_emulator::{Emulator, EmulatorBuilder, EmulatorConfig, ModelDef, NewUser, is_valid_name};

fn command() -> Command {
    Command::new("cloudbase-emulator")
        .about(
            "A local CloudBase (auth at /auth/v1, cloud functions at /v1/functions, cloud run at /v1/cloudrun, APIs \
             at /v1/apis, cloud storage at /v1/storages, MySQL RESTful at /v1/rdb/rest, data models at /v1/model) for tests, examples and offline development",
        )
        .version(env!("CARGO_PKG_VERSION"))
        .arg(
            Arg::new("host")
                .long("host")
                .default_value("127.0.0.1")
                .value_parser(value_parser!(IpAddr))
                .help("Address to listen on"),
        )
        .arg(
            Arg::new("port")
                .long("port")
                .short('p')
                .default_value("0")
                .value_parser(value_parser!(u16))
                .help("Port (0 = chosen by the OS)"),
        )
        .arg(Arg::new("env").long("env").default_value("emulator-env").help("Environment id (also the client id)"))
        .arg(Arg::new("seed").long("seed").value_name("users.json").help("JSON list of users to create at start"))
        .arg(
            Arg::new("access-token-ttl")
                .long("access-token-ttl")
                .value_name("SECS")
                .value_parser(value_parser!(u64))
                .help("Access-token lifetime in seconds [default: 7200]"),
        )
        .arg(
            Arg::new("refresh-token-ttl")
                .long("refresh-token-ttl")
                .value_name("SECS")
                .value_parser(value_parser!(u64))
                .help("Refresh-token lifetime in seconds [default: 2678400]"),
        )
        .arg(
            Arg::new("captcha-after-code-requests")
                .long("captcha-after-code-requests")
                .value_name("N")
                .value_parser(value_parser!(u32))
                .help("Require a captcha after N code requests from one device id"),
        )
        .arg(
            Arg::new("storage-dir")
                .long("storage-dir")
                .value_name("DIR")
                .value_parser(value_parser!(PathBuf))
                .help("Keep cloud storage objects in DIR (created if missing) [default: a temporary directory]"),
        )
        .arg(
            Arg::new("data-dir")
                .long("data-dir")
                .value_name("DIR")
                .value_parser(value_parser!(PathBuf))
                .help("Keep the SQLite databases as files {instance}.{schema}.sqlite3 in DIR [default: in memory]"),
        )
        .arg(
            Arg::new("seed-data")
                .long("seed-data")
                .value_name("FILE")
                .help("JSON {\"sql\": [\"CREATE TABLE ...\", ...], \"models\": [...]} to load at start (and after a reset)"),
        )
        .arg(Arg::new("no-anonymous").long("no-anonymous").action(ArgAction::SetTrue).help("Disable anonymous sign-in"))
        .arg(forward_arg("function", "Serve cloud function NAME by POSTing its event JSON to URL (repeatable)"))
        .arg(forward_arg("cloudrun", "Serve cloud run service NAME by forwarding requests to URL + path (repeatable)"))
        .arg(forward_arg("api", "Serve API NAME by forwarding requests to URL + path (repeatable)"))
        .arg(Arg::new("quiet").long("quiet").short('q').action(ArgAction::SetTrue).help("Do not print sent codes"))
}

fn forward_arg(name: &'static str, help: &'static str) -> Arg {
    Arg::new(name).long(name).value_name("NAME=URL").action(ArgAction::Append).help(help)
}

/// `NAME=URL` with a valid name and an `http://` or `https://` URL.
fn parse_forward(flag: &str, value: &str) -> Result<(String, String), String> {
    let (name, url) = value.split_once('=').ok_or_else(|| format!("--{flag} {value}: expected NAME=URL"))?;
    if !is_valid_name(name) {
        return Err(format!("--{flag} {value}: invalid name {name:?} (^[a-zA-Z][a-zA-Z0-9_-]{{0,58}}[a-zA-Z0-9]$)"));
    }
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(format!("--{flag} {value}: the URL must start with http:// or https://"));
    }
    Ok((name.to_owned(), url.to_owned()))
}

/// Registers the forwards; answers the builder and one line per forward (printed after the banner).
fn forwards(args: &clap::ArgMatches, mut builder: EmulatorBuilder) -> Result<(EmulatorBuilder, Vec<String>), String> {
    let mut lines = Vec::new();
    for flag in ["function", "cloudrun", "api"] {
        for value in args.get_many::<String>(flag).into_iter().flatten() {
            let (name, url) = parse_forward(flag, value)?;
            lines.push(format!("cloudbase-emulator {flag} {name} -> {url}"));
            builder = match flag {
                "function" => builder.forward_function(name, url),
                "cloudrun" => builder.forward_cloudrun(name, url),
                _ => builder.forward_api(name, url),
            };
        }
    }
    Ok((builder, lines))
}

/// The `--seed-data` file: SQL batches (run in order in the default database) and model definitions.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedData {
    #[serde(default)]
    sql: Vec<String>,
    #[serde(default)]
    models: Vec<ModelDef>,
}

fn read_seed_data(path: &str) -> Result<impl FnOnce(EmulatorBuilder) -> EmulatorBuilder, String> {
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    let seed: SeedData = serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
    Ok(move |builder: EmulatorBuilder| {
        let builder = seed.models.into_iter().fold(builder, EmulatorBuilder::model);
        seed.sql.into_iter().fold(builder, EmulatorBuilder::sql)
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = command().get_matches();
    let mut config = EmulatorConfig {
        bind: SocketAddr::new(
            *args.get_one::<IpAddr>("host").expect("has default"),
            *args.get_one::<u16>("port").expect("has default"),
        ),
        env_id: args.get_one::<String>("env").expect("has default").clone(),
        print_codes: !args.get_flag("quiet"),
        anonymous_enabled: !args.get_flag("no-anonymous"),
        captcha_after_code_requests: args.get_one::<u32>("captcha-after-code-requests").copied(),
        storage_dir: args.get_one::<PathBuf>("storage-dir").cloned(),
        data_dir: args.get_one::<PathBuf>("data-dir").cloned(),
        ..EmulatorConfig::default()
    };
    if let Some(secs) = args.get_one::<u64>("access-token-ttl") {
        config.access_token_ttl = Duration::from_secs(*secs);
    }
    if let Some(secs) = args.get_one::<u64>("refresh-token-ttl") {
        config.refresh_token_ttl = Duration::from_secs(*secs);
    }
    if let Some(path) = args.get_one::<String>("seed") {
        let users = std::fs::read(path)
            .map_err(|e| e.to_string())
            .and_then(|bytes| serde_json::from_slice::<Vec<NewUser>>(&bytes).map_err(|e| e.to_string()));
        match users {
            Ok(users) => config.users = users,
            Err(e) => {
                eprintln!("cloudbase-emulator: cannot read seed users from {path}: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    let mut builder = Emulator::builder().config(config);
    if let Some(path) = args.get_one::<String>("seed-data") {
        match read_seed_data(path) {
            Ok(seeded) => builder = seeded(builder),
            Err(e) => {
                eprintln!("cloudbase-emulator: cannot read seed data from {path}: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    let (builder, forward_lines) = match forwards(&args, builder) {
        Ok(done) => done,
        Err(e) => {
            eprintln!("cloudbase-emulator: {e}");
            return ExitCode::FAILURE;
        }
    };
    let emulator = match builder.start().await {
        Ok(emulator) => emulator,
        Err(e) => {
            eprintln!("cloudbase-emulator: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("cloudbase-emulator listening on {}", emulator.url());
    println!(
        "cloudbase-emulator env {} (auth API at {url}/auth/v1, functions at {url}/v1/functions, cloud run at \
         {url}/v1/cloudrun, APIs at {url}/v1/apis, cloud storage at {url}/v1/storages, MySQL RESTful at {url}/v1/rdb/rest, data models at {url}/v1/model, test controls at \
         {url}/_emulator)",
        emulator.env_id(),
        url = emulator.url(),
    );
    println!(
        "cloudbase-emulator cloud storage in {}{}",
        emulator.storage_dir().display(),
        if args.get_one::<PathBuf>("storage-dir").is_some() {
            ""
        } else {
            " (temporary: removed on Ctrl-C or SIGTERM)"
        }
    );
    for line in forward_lines {
        println!("{line}");
    }
    let _ = std::io::stdout().flush();
    wait_for_signal().await;
    emulator.shutdown().await;
    ExitCode::SUCCESS
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
