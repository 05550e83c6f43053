//! The pipeline file (`firelake.toml`, docs/pipeline-file.md): every option of every command
//! can also come from it, under the option's long name. Flags win over env vars, env vars over
//! the file, the file over the defaults.
//!
//! Applied before clap parses, generically from the clap definitions (each option stays
//! defined once): for each of the file's keys that the command has, not given on the command
//! line and whose env twin is unset, `--key=value` is added to the arguments right after the
//! subcommand's name. Nothing is put in the environment, so child processes see only what the
//! operator set.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::{Arg, ArgAction, Command};
use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// The file read when neither `--config` nor `FIRELAKE_CONFIG` names one.
pub const DEFAULT_FILE: &str = "firelake.toml";

/// A pipeline file that cannot be used: one line naming the file, the line and the key.
#[derive(Debug, thiserror::Error)]
#[error("pipeline file {file}{}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
pub struct FileError {
    pub file: PathBuf,
    pub line: Option<usize>,
    pub message: String,
}

/// A value the file gave, and where: to name it when clap rejects it.
#[derive(Debug, Clone)]
pub struct Injected {
    pub long: String,
    pub key: String,
    pub line: usize,
}

/// The arguments to parse, with the file's values added.
#[derive(Debug, Default)]
pub struct Augmented {
    pub argv: Vec<OsString>,
    pub file: Option<PathBuf>,
    pub injected: Vec<Injected>,
}

/// What a file sets: its values, and its tables (commands) with their lines.
#[derive(Default)]
struct Settings<'a> {
    values: Vec<Setting<'a>>,
    tables: Vec<(String, usize)>,
}

/// One setting of the file: `[section] key = value` (`section` `None`: the top level).
struct Setting<'a> {
    section: Option<String>,
    key: String,
    line: usize,
    value: &'a Spanned<DeValue<'a>>,
}

impl Setting<'_> {
    fn name(&self) -> String {
        match &self.section {
            Some(s) => format!("[{s}] {}", self.key),
            None => self.key.clone(),
        }
    }
}

/// The pipeline file to read: `--config FILE`, else `FIRELAKE_CONFIG`, else `./firelake.toml`
/// when it exists. The second value: whether it was named (a named file must exist).
pub fn locate(argv: &[OsString]) -> Option<(PathBuf, bool)> {
    let mut it = argv.iter().skip(1);
    while let Some(a) = it.next() {
        let a = a.to_string_lossy();
        if a == "--" {
            break;
        }
        if a == "--config" {
            return it.next().map(|v| (PathBuf::from(v), true));
        }
        if let Some(v) = a.strip_prefix("--config=") {
            return Some((PathBuf::from(v), true));
        }
    }
    if let Some(v) = std::env::var_os("FIRELAKE_CONFIG").filter(|v| !v.is_empty()) {
        return Some((PathBuf::from(v), true));
    }
    let default = PathBuf::from(DEFAULT_FILE);
    default.is_file().then_some((default, false))
}

/// `argv` with the pipeline file's values for the command it runs.
pub fn augment(cmd: &Command, argv: Vec<OsString>) -> Result<Augmented, FileError> {
    // Help and version print whatever the file holds.
    let asks_help = argv
        .iter()
        .skip(1)
        .take_while(|a| *a != "--")
        .any(|a| ["-h", "--help", "-V", "--version"].contains(&a.to_string_lossy().as_ref()));
    let found = if asks_help { None } else { locate(&argv) };
    let Some((file, named)) = found else {
        return Ok(Augmented {
            argv,
            ..Default::default()
        });
    };
    let text = match std::fs::read_to_string(&file) {
        Ok(t) => t,
        Err(e) if !named && e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Augmented {
                argv,
                ..Default::default()
            });
        }
        Err(e) => return Err(err(&file, None, format!("cannot read it: {e}"))),
    };
    let table = parse(&file, &text)?;
    let settings = settings(&text, &table);
    check_keys(cmd, &file, &settings)?;
    check_types(cmd, &file, &settings)?;
    let mut out = Augmented {
        file: Some(file.clone()),
        ..Default::default()
    };
    let Some((pos, sub)) = subcommand_at(cmd, &argv) else {
        out.argv = argv;
        return Ok(out);
    };
    let mut added: Vec<OsString> = Vec::new();
    for s in effective(&settings.values, sub.get_name()) {
        let Some(arg) = find_arg(cmd, sub, &s.key) else {
            continue; // a top-level key of other commands
        };
        if given(&argv, arg) || arg.get_env().is_some_and(|e| std::env::var_os(e).is_some()) {
            continue;
        }
        added.extend(values_of(&file, s, arg)?);
        out.injected.push(Injected {
            long: s.key.clone(),
            key: s.name(),
            line: s.line,
        });
    }
    out.argv = argv[..=pos].to_vec();
    out.argv.extend(added);
    out.argv.extend_from_slice(&argv[pos + 1..]);
    Ok(out)
}

fn err(file: &Path, line: Option<usize>, message: impl Into<String>) -> FileError {
    FileError {
        file: file.to_path_buf(),
        line,
        message: message.into(),
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

fn parse<'a>(file: &Path, text: &'a str) -> Result<DeTable<'a>, FileError> {
    DeTable::parse(text).map(|t| t.into_inner()).map_err(|e| {
        let line = e.span().map(|s| line_of(text, s.start));
        let msg = e.message().lines().next().unwrap_or("").trim().to_string();
        err(file, line, format!("not valid TOML: {msg}"))
    })
}

/// The file's settings: top-level values, and the values of each `[command]` table.
fn settings<'a>(text: &str, table: &'a DeTable<'a>) -> Settings<'a> {
    let mut out = Settings::default();
    for (k, v) in table {
        let key = k.get_ref().to_string();
        match v.get_ref() {
            DeValue::Table(inner) => {
                out.tables
                    .push((key.clone(), line_of(text, k.span().start)));
                for (ik, iv) in inner {
                    out.values.push(Setting {
                        section: Some(key.clone()),
                        key: ik.get_ref().to_string(),
                        line: line_of(text, ik.span().start),
                        value: iv,
                    });
                }
            }
            _ => out.values.push(Setting {
                section: None,
                key,
                line: line_of(text, k.span().start),
                value: v,
            }),
        }
    }
    out
}

/// Keys the file may not set: they name the file itself or only print.
const NOT_SETTINGS: [&str; 3] = ["config", "help", "version"];

/// The long names a top-level key may have: every command's options and the global ones.
fn all_longs(cmd: &Command) -> Vec<String> {
    let mut longs: Vec<String> = settable(cmd).collect();
    for sub in cmd.get_subcommands() {
        longs.extend(settable(sub));
    }
    longs.sort();
    longs.dedup();
    longs
}

fn settable(cmd: &Command) -> impl Iterator<Item = String> + '_ {
    cmd.get_arguments()
        .filter_map(|a| a.get_long())
        .filter(|l| !NOT_SETTINGS.contains(l))
        .map(str::to_string)
}

/// Every key is an option of its command (or, at the top level, of some command); every
/// table is a command.
fn check_keys(cmd: &Command, file: &Path, settings: &Settings) -> Result<(), FileError> {
    let names: Vec<String> = cmd
        .get_subcommands()
        .map(|c| c.get_name().to_string())
        .collect();
    for (table, line) in &settings.tables {
        if cmd.find_subcommand(table).is_none() {
            let shown = format!("[{table}]");
            return Err(unknown(file, *line, &shown, table, &names, "a command"));
        }
    }
    let everyone = all_longs(cmd);
    for s in &settings.values {
        let valid: Vec<String> = match &s.section {
            None => everyone.clone(),
            Some(section) => {
                let sub = cmd.find_subcommand(section).expect("tables checked above");
                settable(sub).chain(settable(cmd)).collect()
            }
        };
        if !valid.contains(&s.key) {
            let what = match &s.section {
                Some(sec) => format!("an option of `firelake {sec}`"),
                None => "an option of any command".to_string(),
            };
            return Err(unknown(file, s.line, &s.name(), &s.key, &valid, &what));
        }
    }
    Ok(())
}

fn unknown(
    file: &Path,
    line: usize,
    shown: &str,
    key: &str,
    valid: &[String],
    what: &str,
) -> FileError {
    let nearest = valid
        .iter()
        .min_by_key(|v| strsim::levenshtein(key, v))
        .map(|v| format!("; did you mean `{v}`?"))
        .unwrap_or_default();
    err(
        file,
        Some(line),
        format!("unknown key `{shown}`: not {what}{nearest}"),
    )
}

/// Every table's values have the shape their option takes (a switch a boolean, one value
/// not an array), whichever command runs. Their values are parsed by the command that uses
/// them (and all by `firelake validate`).
fn check_types(cmd: &Command, file: &Path, settings: &Settings) -> Result<(), FileError> {
    for s in &settings.values {
        let Some(sub) = s.section.as_deref().and_then(|t| cmd.find_subcommand(t)) else {
            continue;
        };
        if let Some(arg) = find_arg(cmd, sub, &s.key) {
            values_of(file, s, arg)?;
        }
    }
    Ok(())
}

/// The settings that apply to `sub`: its table's, and the top level's it does not override.
fn effective<'s, 'a>(settings: &'s [Setting<'a>], sub: &str) -> Vec<&'s Setting<'a>> {
    let own: Vec<&Setting> = settings
        .iter()
        .filter(|s| s.section.as_deref() == Some(sub))
        .collect();
    let top = settings
        .iter()
        .filter(|s| s.section.is_none() && !own.iter().any(|o| o.key == s.key));
    own.iter().copied().chain(top).collect()
}

fn find_arg<'c>(cmd: &'c Command, sub: &'c Command, long: &str) -> Option<&'c Arg> {
    let by_long = |c: &'c Command| c.get_arguments().find(|a| a.get_long() == Some(long));
    by_long(sub).or_else(|| by_long(cmd).filter(|a| a.is_global_set()))
}

/// The position and command of the subcommand `argv` runs (after any global options).
fn subcommand_at<'c>(cmd: &'c Command, argv: &[OsString]) -> Option<(usize, &'c Command)> {
    let mut i = 1;
    while i < argv.len() {
        let a = argv[i].to_string_lossy();
        if let Some(long) = a.strip_prefix("--") {
            if long.is_empty() {
                return None;
            }
            let takes_value = cmd
                .get_arguments()
                .find(|x| x.get_long() == Some(long))
                .is_some_and(|x| x.get_action().takes_values());
            i += if takes_value { 2 } else { 1 };
            continue;
        }
        if a.starts_with('-') {
            i += 1;
            continue;
        }
        return cmd.find_subcommand(a.as_ref()).map(|s| (i, s));
    }
    None
}

/// Whether the command line gives `arg` (`--long`, `--long=V`, `-s`, `-sV`).
fn given(argv: &[OsString], arg: &Arg) -> bool {
    let long = arg.get_long().map(|l| format!("--{l}"));
    let short = arg.get_short().map(|s| format!("-{s}"));
    argv.iter()
        .skip(1)
        .map(|a| a.to_string_lossy())
        .take_while(|a| a != "--")
        .any(|a| {
            long.as_deref()
                .is_some_and(|l| a == l || a.starts_with(&format!("{l}=")))
                || short
                    .as_deref()
                    .is_some_and(|s| a.starts_with(s) && !a.starts_with("--"))
        })
}

/// The arguments that give `s`'s value to `arg`.
fn values_of(file: &Path, s: &Setting, arg: &Arg) -> Result<Vec<OsString>, FileError> {
    let long = arg.get_long().expect("settings are long options");
    let type_error = |expected: &str| {
        err(
            file,
            Some(s.line),
            format!("`{}`: expected {expected}", s.name()),
        )
    };
    if matches!(arg.get_action(), ArgAction::SetTrue | ArgAction::SetFalse) {
        return match s.value.get_ref() {
            DeValue::Boolean(true) => Ok(vec![OsString::from(format!("--{long}"))]),
            DeValue::Boolean(false) => Ok(vec![]),
            _ => Err(type_error("true or false")),
        };
    }
    let many = matches!(arg.get_action(), ArgAction::Append);
    let items: Vec<&DeValue> = match s.value.get_ref() {
        DeValue::Array(items) if many => items.iter().map(|i| i.get_ref()).collect(),
        DeValue::Array(_) => return Err(type_error("one value, not an array")),
        v => vec![v],
    };
    items
        .into_iter()
        .map(|v| {
            scalar(v)
                .map(|v| OsString::from(format!("--{long}={v}")))
                .ok_or_else(|| type_error("a string, number or boolean"))
        })
        .collect()
}

fn scalar(v: &DeValue) -> Option<String> {
    Some(match v {
        DeValue::String(s) => s.to_string(),
        DeValue::Integer(i) => i.to_string(),
        DeValue::Float(f) => f.to_string(),
        DeValue::Boolean(b) => b.to_string(),
        DeValue::Datetime(d) => d.to_string(),
        DeValue::Array(_) | DeValue::Table(_) => return None,
    })
}

/// A clap error about a value the file gave, as one line naming the file, line and key;
/// `None` when the error is about something else.
pub fn explain(e: &clap::Error, aug: &Augmented) -> Option<String> {
    use clap::error::{ContextKind, ContextValue};
    let file = aug.file.as_ref()?;
    let ContextValue::String(arg) = e.get(ContextKind::InvalidArg)? else {
        return None;
    };
    let long = arg.strip_prefix("--")?.split([' ', '=']).next()?;
    let inj = aug.injected.iter().find(|i| i.long == long)?;
    Some(format!(
        "pipeline file {}:{}: `{}`: {}",
        file.display(),
        inj.line,
        inj.key,
        clap_message(e)
    ))
}

/// Clap's message without its usage and help lines, on one line.
pub fn clap_message(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let message: Vec<&str> = text
        .lines()
        .take_while(|l| !l.trim().is_empty() && !l.starts_with("Usage:"))
        .map(str::trim)
        .collect();
    let line = message.join(" ");
    line.strip_prefix("error: ").unwrap_or(&line).to_string()
}

/// The commands a pipeline file configures, each with whether it has its own table: its
/// tables; a file without tables, every command that takes one of its keys.
pub fn commands(cmd: &Command, file: &Path) -> Result<Vec<(String, bool)>, FileError> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| err(file, None, format!("cannot read it: {e}")))?;
    let table = parse(file, &text)?;
    let settings = settings(&text, &table);
    check_keys(cmd, file, &settings)?;
    check_types(cmd, file, &settings)?;
    let mut out = Vec::new();
    for sub in cmd.get_subcommands() {
        let name = sub.get_name();
        let own = settings.tables.iter().any(|(t, _)| t == name);
        let top = settings.values.iter().any(|s| {
            s.section.is_none() && find_arg(cmd, sub, &s.key).is_some_and(|a| !a.is_global_set())
        });
        if own || top {
            out.push((name.to_string(), own));
        }
    }
    if out.iter().any(|(_, own)| *own) {
        out.retain(|(_, own)| *own);
    }
    Ok(out)
}
