//! `firelake validate`: a pipeline file checked without running anything (docs/pipeline-file.md).
//! Each command the file configures is parsed as it would run (values, ranges, required
//! options: the same clap definitions), its locations parse, its source definition loads;
//! with `--check-connections` its lake, catalog and stream answer within `--connect-timeout`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{ArgMatches, Command};
use firelake_core::{Lake, SourceDef};

use crate::flags::parse_duration;
use crate::pipeline_file::{self, FileError};

#[derive(clap::Args, Clone)]
pub struct ValidateArgs {
    /// Also check that the lakes, catalogs and streams the file names answer.
    #[arg(long, env = "FIRELAKE_CHECK_CONNECTIONS")]
    check_connections: bool,
    /// How long each connection check may take (as `consume --connect-timeout`).
    #[arg(long, env = "FIRELAKE_CONNECT_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    connect_timeout: Duration,
}

/// What was found wrong: the file's content (usage) or a connection (failure).
#[derive(Default)]
struct Findings {
    checked: usize,
    usage: Vec<String>,
    unreachable: Vec<String>,
}

impl Findings {
    fn record(&mut self, what: String, result: Result<String, String>, connection: bool) {
        self.checked += 1;
        match result {
            Ok(detail) => println!("ok    {what}{detail}"),
            Err(e) => {
                println!("FAIL  {what}: {e}");
                let line = format!("{what}: {e}");
                if connection {
                    self.unreachable.push(line);
                } else {
                    self.usage.push(line);
                }
            }
        }
    }
}

pub fn run(
    args: ValidateArgs,
    cmd: Command,
    file: Option<PathBuf>,
) -> Result<(), Box<dyn std::error::Error>> {
    let Some(file) = file else {
        return Err(FileError {
            file: PathBuf::from(pipeline_file::DEFAULT_FILE),
            line: None,
            message: "not found: name one with --config FILE (or FIRELAKE_CONFIG)".into(),
        }
        .into());
    };
    let commands = pipeline_file::commands(&cmd, &file)?;
    println!("pipeline file {}: keys ok", file.display());
    let rt = tokio::runtime::Runtime::new()?;
    let mut found = Findings::default();
    for (name, own) in commands.iter().filter(|(n, _)| n != "validate") {
        check_command(&cmd, &file, name, *own, &args, &rt, &mut found);
    }
    println!(
        "validated {}: {} commands, {} checks, {} failed",
        file.display(),
        commands.len(),
        found.checked,
        found.usage.len() + found.unreachable.len()
    );
    if let Some(first) = found.usage.first() {
        return Err(FileError {
            file,
            line: None,
            message: format!("{} problem(s), first: {first}", found.usage.len()),
        }
        .into());
    }
    if let Some(first) = found.unreachable.first() {
        return Err(format!(
            "{} connection check(s) failed, first: {first}; check the address, the credentials and that the service runs",
            found.unreachable.len()
        )
        .into());
    }
    Ok(())
}

/// `firelake <name>` parsed with the file (and the environment), then its locations checked.
fn check_command(
    cmd: &Command,
    file: &Path,
    name: &str,
    own: bool,
    args: &ValidateArgs,
    rt: &tokio::runtime::Runtime,
    found: &mut Findings,
) {
    let argv = ["firelake", "--config", &file.to_string_lossy(), name].map(Into::into);
    let parsed = pipeline_file::augment(cmd, argv.to_vec())
        .map_err(|e| e.to_string())
        .and_then(|aug| {
            // Input files are named when the command runs; a command without a table of its
            // own is checked for its values only (its other options come when it runs).
            let relaxed = cmd.clone().mut_subcommand(name, |c| {
                c.mut_args(|a| match (own, a.is_positional()) {
                    (true, false) => a,
                    (true, true) => a.required(false),
                    (false, _) => a
                        .required(false)
                        .required_unless_present(clap::builder::Resettable::<clap::Id>::Reset),
                })
            });
            relaxed.try_get_matches_from(&aug.argv).map_err(|e| {
                pipeline_file::explain(&e, &aug).unwrap_or_else(|| pipeline_file::clap_message(&e))
            })
        });
    let matches = match parsed {
        Ok(m) => m,
        Err(e) => return found.record(format!("{name}: options"), Err(e), false),
    };
    let m = matches
        .subcommand_matches(name)
        .expect("parsed as this command");
    found.record(format!("{name}: options"), Ok(String::new()), false);
    let raw = |long: &str| raw_value(cmd, name, m, long);
    for long in ["lake", "state"] {
        if let Some(url) = raw(long) {
            let what = format!("{name}: {long} {url}");
            found.record(
                what.clone(),
                Lake::check_url(&url)
                    .map(|_| String::new())
                    .map_err(|e| e.to_string()),
                false,
            );
            if args.check_connections && Lake::check_url(&url).is_ok() {
                found.record(
                    format!("{what} reachable"),
                    rt.block_on(lake_answers(&url, args.connect_timeout)),
                    true,
                );
            }
        }
    }
    if let Some(source) = raw("source") {
        let dir = raw("source-dir").map(PathBuf::from);
        let loaded = SourceDef::resolve(&source, dir.as_deref())
            .map(|d| format!(" (table {}, {} columns)", d.table, d.columns.len()))
            .map_err(|e| e.to_string());
        found.record(format!("{name}: source {source}"), loaded, false);
    }
    if let Some(url) = raw("catalog") {
        found.record(
            format!("{name}: catalog {url}"),
            check_catalog_url(&url),
            false,
        );
    }
    for long in ["from", "to"] {
        if let Some(url) = raw(long) {
            let what = format!("{name}: {long} {url}");
            let parsed = check_stream_url(&url);
            let ok = parsed.is_ok();
            found.record(what.clone(), parsed, false);
            if args.check_connections && ok {
                found.record(
                    format!("{what} reachable"),
                    rt.block_on(stream_answers(&url, args.connect_timeout)),
                    true,
                );
            }
        }
    }
    if args.check_connections
        && let Some(lake) = raw("lake").filter(|l| Lake::check_url(l).is_ok())
    {
        let db = raw("database").unwrap_or_else(|| "firelake".into());
        let what = format!("{name}: catalog of {lake}");
        let answer = rt.block_on(catalog_answers(
            raw("catalog"),
            &lake,
            &db,
            args.connect_timeout,
        ));
        found.record(what, answer, true);
    }
}

/// The value `firelake <name>` would use for `--long` (command line, env, file or default).
fn raw_value(cmd: &Command, name: &str, m: &ArgMatches, long: &str) -> Option<String> {
    let sub = cmd.find_subcommand(name)?;
    let arg = sub.get_arguments().find(|a| a.get_long() == Some(long))?;
    let mut values = m.try_get_raw(arg.get_id().as_str()).ok()??;
    values.next().map(|v| v.to_string_lossy().into_owned())
}

fn check_catalog_url(url: &str) -> Result<String, String> {
    let ok = match url.split_once("://") {
        Some(("glue" | "file", rest)) => !rest.is_empty(),
        Some(("memory", "")) => true,
        _ => false,
    };
    ok.then(String::new).ok_or_else(|| {
        format!(
            "unsupported catalog URL {url:?}: use glue://DATABASE, file://PATH.json or memory://"
        )
    })
}

fn check_stream_url(url: &str) -> Result<String, String> {
    let named = |rest: &str, what: &str| {
        (!rest.is_empty() && !rest.contains('/'))
            .then(String::new)
            .ok_or_else(|| format!("{url:?} names no {what}"))
    };
    match url.split_once("://") {
        Some(("kafka", _)) => firelake_core::kafka_url::KafkaUrl::parse(url).map(|_| String::new()),
        Some(("kinesis", rest)) => named(rest, "stream"),
        Some(("firehose", rest)) => named(rest, "delivery stream"),
        // `replay --to embedded`: the stream inside the process.
        None if url == "embedded" => Ok(String::new()),
        _ => Err(format!(
            "unsupported stream URL {url:?}: use kinesis://STREAM, kafka://HOST:PORT/TOPIC or firehose://NAME"
        )),
    }
}

/// A local lake's folder exists (or can be made: its parent exists); an S3 lake answers a read.
async fn lake_answers(url: &str, timeout: Duration) -> Result<String, String> {
    if url.starts_with("memory://") {
        return Ok(" (in memory)".into());
    }
    if !url.starts_with("s3://") {
        let path = Path::new(url.strip_prefix("file://").unwrap_or(url));
        return match path.is_dir() {
            true => Ok(String::new()),
            false
                if path
                    .parent()
                    .is_some_and(|p| p.as_os_str().is_empty() || p.is_dir()) =>
            {
                Ok(" (not made yet: the first run makes it)".into())
            }
            false => Err(format!(
                "neither {} nor its parent folder exists",
                path.display()
            )),
        };
    }
    let lake = Lake::from_url(url).map_err(|e| e.to_string())?;
    match tokio::time::timeout(timeout, lake.get("_firelake_validate")).await {
        Err(_) => Err(format!("no answer within {timeout:?}")),
        Ok(Err(e)) => Err(e.to_string()),
        Ok(Ok(_)) => Ok(String::new()),
    }
}

async fn catalog_answers(
    catalog: Option<String>,
    lake: &str,
    database: &str,
    timeout: Duration,
) -> Result<String, String> {
    let local = !lake.starts_with("s3://") && !lake.starts_with("memory://");
    let path = Path::new(lake.strip_prefix("file://").unwrap_or(lake));
    if catalog.is_none() && local && !path.is_dir() {
        return Ok(" (no lake yet)".into());
    }
    let check = async {
        let lake = Lake::from_url(lake).map_err(|e| e.to_string())?;
        let cat = open_catalog(catalog.as_deref(), &lake, database).await?;
        let tables = cat.table_names().await.map_err(|e| e.to_string())?;
        Ok(tables.map_or_else(String::new, |t| format!(" ({} tables)", t.len())))
    };
    tokio::time::timeout(timeout, check)
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {timeout:?}")))
}

async fn open_catalog(
    url: Option<&str>,
    lake: &Lake,
    database: &str,
) -> Result<std::sync::Arc<dyn firelake_core::catalog::Catalog>, String> {
    firelake_aws::open_catalog(url, lake, database)
        .await
        .map_err(|e| e.to_string())
}

/// The stream answers: Kafka brokers with the topic's metadata, a Kinesis stream's summary,
/// each within `timeout` (the consumer's connect checks).
async fn stream_answers(url: &str, timeout: Duration) -> Result<String, String> {
    if url == "embedded" {
        return Ok(" (in this process)".into());
    }
    #[cfg(all(feature = "kinesis", feature = "kafka", feature = "sqs"))]
    {
        if let Some(stream) = url.strip_prefix("kinesis://") {
            let client = aws_sdk_kinesis::Client::new(&firelake_aws::sdk_config().await);
            let probe = firelake_stream_consumer::kinesis::stream_incarnation(&client, stream);
            return match tokio::time::timeout(timeout, probe).await {
                Err(_) => Err(format!("no answer within {timeout:?}")),
                Ok(Err(e)) => Err(e.to_string()),
                Ok(Ok(_)) => Ok(String::new()),
            };
        }
        if url.starts_with("kafka://") {
            return kafka_answers(url, timeout).await;
        }
    }
    let _ = timeout;
    Ok(format!(" (not checked: no connection check for {url})"))
}

#[cfg(all(feature = "kinesis", feature = "kafka", feature = "sqs"))]
async fn kafka_answers(url: &str, timeout: Duration) -> Result<String, String> {
    use firelake_stream_consumer::kafka::{KafkaOptions, KafkaStart, consumer_config, probe};
    let url = firelake_core::kafka_url::KafkaUrl::parse(url)?;
    #[cfg(feature = "secrets")]
    let url = firelake_aws::secrets::resolve_kafka(&url)
        .await
        .map_err(|e| e.to_string())?;
    let opts = KafkaOptions {
        group: "firelake-validate".into(),
        start: KafkaStart::Earliest,
        common: Default::default(),
        url,
    };
    let topic = opts.url.topic.clone();
    probe::reach_brokers(consumer_config(&opts), opts.url.msk_iam(), topic, timeout)
        .await
        .map(|_| String::new())
        .map_err(|e| e.to_string())
}
