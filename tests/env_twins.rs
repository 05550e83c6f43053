//! Every environment variable a Lambda reads is the env twin of the matching `firelake`
//! subcommand's flag, with the same default (and so the same unit): a Lambda configured from
//! the CLI's documentation never silently ignores a setting (issue 19: the producer Lambda read
//! `FIRELAKE_PUBLISH_DEADLINE_S` while `firelake produce` documents `FIRELAKE_PUBLISH_DEADLINE`).

mod common;

use std::collections::BTreeMap;

use clap::CommandFactory;

/// `NAME -> default` of every flag with an env twin, read from `firelake <sub> --help`.
fn cli_env_defaults(sub: &str) -> BTreeMap<String, Option<String>> {
    // Values set in this environment would show in the help instead of the defaults' absence.
    let out = common::firelake_command(&common::root())
        .args([sub, "--help"])
        .output()
        .expect("firelake runs");
    assert!(out.status.success(), "firelake {sub} --help failed");
    let help = String::from_utf8(out.stdout).unwrap();
    // One block per option: it starts at a line whose first non-blank character is '-'.
    let mut blocks: Vec<String> = Vec::new();
    for line in help.lines() {
        if line.trim_start().starts_with('-') || blocks.is_empty() {
            blocks.push(String::new());
        }
        blocks.last_mut().unwrap().push_str(line);
        blocks.last_mut().unwrap().push('\n');
    }
    blocks
        .iter()
        .filter_map(|b| {
            let name = between(b, "[env: ", "=")?;
            Some((name, between(b, "[default: ", "]")))
        })
        .collect()
}

fn between(text: &str, start: &str, end: &str) -> Option<String> {
    let from = text.find(start)? + start.len();
    let len = text[from..].find(end)?;
    Some(text[from..from + len].to_string())
}

/// `NAME -> default` of every setting of a Lambda's configuration.
fn lambda_env_defaults(cmd: clap::Command) -> BTreeMap<String, Option<String>> {
    cmd.get_arguments()
        .filter_map(|a| {
            let name = a.get_env()?.to_str()?.to_string();
            let default = a
                .get_default_values()
                .first()
                .map(|v| v.to_string_lossy().into_owned());
            Some((name, default))
        })
        .collect()
}

fn assert_twins(lambda: &str, config: clap::Command, sub: &str) {
    let cli = cli_env_defaults(sub);
    assert!(
        !cli.is_empty(),
        "no env twins read from `firelake {sub} --help`"
    );
    let lambda_envs = lambda_env_defaults(config);
    assert!(
        !lambda_envs.is_empty(),
        "the {lambda} Lambda reads no setting?"
    );
    for (name, default) in lambda_envs {
        let Some(cli_default) = cli.get(&name) else {
            panic!("the {lambda} Lambda reads {name}, which `firelake {sub}` does not document");
        };
        if default.is_some() {
            assert_eq!(
                &default, cli_default,
                "{name}: the {lambda} Lambda's default differs from `firelake {sub}`'s"
            );
        }
    }
}

#[test]
fn the_producer_lambda_reads_the_env_twins_of_firelake_produce() {
    assert_twins(
        "producer",
        firelake_producer::lambda::TickConfig::command(),
        "produce",
    );
}

#[test]
fn the_stream_consumer_lambda_reads_the_env_twins_of_firelake_consume() {
    assert_twins(
        "stream-consumer",
        firelake_stream_consumer::lambda::LambdaConfig::command(),
        "consume",
    );
}

#[test]
fn the_compactor_reads_the_env_twins_of_firelake_compact() {
    assert_twins(
        "compactor",
        firelake_compactor::args::CompactorArgs::command(),
        "compact",
    );
}

#[test]
fn the_sync_lambda_reads_the_env_twins_of_firelake_sync() {
    assert_twins(
        "sync",
        firelake_sync::lambda::LambdaConfig::command(),
        "sync",
    );
}
