//! pprof `profile.proto`, gzipped or raw, to and from [`Profile`], with every index checked.

use crate::error::human_bytes;
use crate::{proto, Error};
use ballast_core::profile::{Function, Label, Line, Location, Mapping, Profile, Sample, ValueType};
use flate2::read::MultiGzDecoder;
use prost::Message;
use std::collections::HashMap;
use std::io::Read;

/// How much a decode may read, against gzip bombs and runaway profiles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest gzipped input. Default: 256 MiB.
    pub max_compressed_bytes: u64,
    /// Largest protobuf message, after decompression or as given. Default: 1 GiB.
    pub max_decoded_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_compressed_bytes: 256 << 20,
            max_decoded_bytes: 1 << 30,
        }
    }
}

/// Whether `bytes` start like gzip (`1f 8b`), as Go's `/debug/pprof/*` answers do.
pub fn is_gzip(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0x1f, 0x8b])
}

/// Reads a profile, gzipped (sniffed by its magic bytes) or raw protobuf, within the
/// default [`Limits`].
pub fn decode(bytes: &[u8]) -> Result<Profile, Error> {
    decode_with(bytes, &Limits::default())
}

/// [`decode`] within `limits`.
pub fn decode_with(bytes: &[u8], limits: &Limits) -> Result<Profile, Error> {
    if is_gzip(bytes) {
        if bytes.len() as u64 > limits.max_compressed_bytes {
            return Err(Error::TooLarge {
                what: "compressed input",
                limit: limits.max_compressed_bytes,
            });
        }
        let raw = gunzip(bytes, limits.max_decoded_bytes)?;
        from_message(&raw)
    } else {
        if bytes.len() as u64 > limits.max_decoded_bytes {
            return Err(Error::TooLarge {
                what: "raw profile",
                limit: limits.max_decoded_bytes,
            });
        }
        from_message(bytes)
    }
}

/// Decompresses at most `limit` bytes: reading one byte more than the limit tells a bomb
/// from a profile of exactly the limit without ever holding more.
pub(crate) fn gunzip(bytes: &[u8], limit: u64) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    MultiGzDecoder::new(bytes)
        .take(limit.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| Error::Gzip {
            message: e.to_string(),
        })?;
    if out.len() as u64 > limit {
        return Err(Error::TooLarge {
            what: "decompressed",
            limit,
        });
    }
    Ok(out)
}

fn from_message(raw: &[u8]) -> Result<Profile, Error> {
    let message = proto::Profile::decode(raw).map_err(|e| Error::Protobuf {
        message: e.to_string(),
    })?;
    convert(message)
}

fn invalid(message: String) -> Error {
    Error::Invalid { message }
}

/// One string of the table; `what` names the field for the error.
fn string(table: &[String], index: i64, what: impl FnOnce() -> String) -> Result<&str, Error> {
    if index == 0 {
        return Ok("");
    }
    usize::try_from(index)
        .ok()
        .and_then(|i| table.get(i))
        .map(String::as_str)
        .ok_or_else(|| {
            invalid(format!(
                "{}: string index {index} is past the string table ({} entries)",
                what(),
                table.len()
            ))
        })
}

/// A label's string index, kept as an index (labels refer to [`Profile::strings`]).
fn label_index(table: &[String], index: i64, what: impl FnOnce() -> String) -> Result<u32, Error> {
    string(table, index, what)?;
    // In range of a table that fits in memory, so it fits in u32 (at least 2 bytes per entry).
    u32::try_from(index).map_err(|_| invalid("string table too long".into()))
}

/// Where ids point: profiles usually number a table 1, 2, 3 … (Go does), which needs no map.
enum Ids {
    Dense(usize),
    Sparse(HashMap<u64, u32>),
}

impl Ids {
    fn new(table: &str, ids: impl ExactSizeIterator<Item = u64> + Clone) -> Result<Ids, Error> {
        let len = ids.len();
        if u32::try_from(len).is_err() {
            return Err(invalid(format!("{table} table too long")));
        }
        if ids.clone().enumerate().all(|(i, id)| id == i as u64 + 1) {
            return Ok(Ids::Dense(len));
        }
        let mut map = HashMap::with_capacity(len);
        for (i, id) in ids.enumerate() {
            if id == 0 {
                return Err(invalid(format!("{table} {i}: id 0 (ids start at 1)")));
            }
            if map.insert(id, i as u32).is_some() {
                return Err(invalid(format!("{table} {i}: id {id} is defined twice")));
            }
        }
        Ok(Ids::Sparse(map))
    }

    fn get(&self, id: u64) -> Option<u32> {
        match self {
            Ids::Dense(len) => (id >= 1 && id <= *len as u64).then(|| (id - 1) as u32),
            Ids::Sparse(map) => map.get(&id).copied(),
        }
    }
}

fn convert(m: proto::Profile) -> Result<Profile, Error> {
    let mut strings = m.string_table;
    match strings.first() {
        None => strings.push(String::new()),
        Some(first) if !first.is_empty() => {
            return Err(invalid(format!(
                "string_table[0] must be \"\", got {first:?}"
            )))
        }
        Some(_) => {}
    }
    let t = strings.as_slice();
    let text = |index: i64, what: &dyn Fn() -> String| string(t, index, what).map(str::to_string);

    let value_type =
        |v: &proto::ValueType, what: &dyn Fn() -> String| -> Result<ValueType, Error> {
            Ok(ValueType {
                kind: text(v.r#type, &|| format!("{}: type", what()))?,
                unit: text(v.unit, &|| format!("{}: unit", what()))?,
            })
        };
    let sample_types = m
        .sample_type
        .iter()
        .enumerate()
        .map(|(i, v)| value_type(v, &|| format!("sample_type {i}")))
        .collect::<Result<Vec<_>, _>>()?;
    let period_type = m
        .period_type
        .as_ref()
        .map(|v| value_type(v, &|| "period_type".into()))
        .transpose()?;

    let mapping_ids = Ids::new("mapping", m.mapping.iter().map(|x| x.id))?;
    let mappings = m
        .mapping
        .iter()
        .enumerate()
        .map(|(i, x)| {
            Ok(Mapping {
                start: x.memory_start,
                limit: x.memory_limit,
                file_offset: x.file_offset,
                filename: text(x.filename, &|| format!("mapping {i}: filename"))?,
                build_id: text(x.build_id, &|| format!("mapping {i}: build_id"))?,
                has_functions: x.has_functions,
                has_filenames: x.has_filenames,
                has_line_numbers: x.has_line_numbers,
                has_inline_frames: x.has_inline_frames,
            })
        })
        .collect::<Result<Vec<_>, Error>>()?;

    let function_ids = Ids::new("function", m.function.iter().map(|x| x.id))?;
    let functions = m
        .function
        .iter()
        .enumerate()
        .map(|(i, x)| {
            let at = |field: &str| format!("function {i} (id {}): {field}", x.id);
            Ok(Function {
                name: text(x.name, &|| at("name"))?,
                system_name: text(x.system_name, &|| at("system_name"))?,
                filename: text(x.filename, &|| at("filename"))?,
                start_line: x.start_line,
            })
        })
        .collect::<Result<Vec<_>, Error>>()?;

    let location_ids = Ids::new("location", m.location.iter().map(|x| x.id))?;
    let locations = m
        .location
        .iter()
        .enumerate()
        .map(|(i, x)| {
            let mapping = match x.mapping_id {
                0 => None,
                id => Some(mapping_ids.get(id).ok_or_else(|| {
                    invalid(format!(
                        "location {i} (id {}): mapping id {id} is not defined",
                        x.id
                    ))
                })?),
            };
            let mut lines = Vec::with_capacity(x.line.len());
            for (j, line) in x.line.iter().enumerate() {
                // pprof lets a line leave its function out (id 0); there is nothing to show.
                if line.function_id == 0 {
                    continue;
                }
                let function = function_ids.get(line.function_id).ok_or_else(|| {
                    invalid(format!(
                        "location {i} (id {}): line {j}: function id {} is not defined",
                        x.id, line.function_id
                    ))
                })?;
                lines.push(Line {
                    function,
                    line: line.line,
                    column: line.column,
                });
            }
            Ok(Location {
                address: x.address,
                mapping,
                lines,
                is_folded: x.is_folded,
            })
        })
        .collect::<Result<Vec<_>, Error>>()?;

    let mut samples = Vec::with_capacity(m.sample.len());
    for (i, s) in m.sample.into_iter().enumerate() {
        if s.value.len() != sample_types.len() {
            return Err(invalid(format!(
                "sample {i}: {} values, but the profile has {} sample types",
                s.value.len(),
                sample_types.len()
            )));
        }
        let locations = s
            .location_id
            .iter()
            .map(|&id| {
                location_ids
                    .get(id)
                    .ok_or_else(|| invalid(format!("sample {i}: location id {id} is not defined")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let labels = s
            .label
            .iter()
            .enumerate()
            .map(|(j, l)| {
                let at = |field: &str| format!("sample {i}: label {j}: {field}");
                Ok(Label {
                    key: label_index(t, l.key, || at("key"))?,
                    text: label_index(t, l.str, || at("str"))?,
                    number: l.num,
                    unit: label_index(t, l.num_unit, || at("num_unit"))?,
                })
            })
            .collect::<Result<Vec<_>, Error>>()?;
        samples.push(Sample {
            locations,
            values: s.value,
            labels,
        });
    }

    let optional = |index: i64, what: &str| -> Result<Option<String>, Error> {
        Ok(match index {
            0 => None,
            i => Some(text(i, &|| what.to_string())?),
        })
    };
    let drop_frames = optional(m.drop_frames, "drop_frames")?;
    let keep_frames = optional(m.keep_frames, "keep_frames")?;
    let default_sample_type = optional(m.default_sample_type, "default_sample_type")?;
    let doc_url = optional(m.doc_url, "doc_url")?;
    let comments = m
        .comment
        .iter()
        .enumerate()
        .map(|(i, &c)| text(c, &|| format!("comment {i}")))
        .collect::<Result<Vec<_>, _>>()?;

    Ok(Profile {
        sample_types,
        default_sample_type,
        samples,
        locations,
        functions,
        mappings,
        strings,
        period_type,
        period: m.period,
        time_nanos: m.time_nanos,
        duration_nanos: m.duration_nanos,
        comments,
        drop_frames,
        keep_frames,
        doc_url,
    })
}

/// The string table being written: the profile's own table first, unchanged, so its
/// labels' indexes still hold, then every other string once.
struct Table {
    strings: Vec<String>,
    index: HashMap<String, i64>,
    /// Added to a label's index: 1 when the profile's table did not start with "".
    shift: i64,
}

impl Table {
    fn new(own: &[String]) -> Table {
        let mut strings = Vec::with_capacity(own.len() + 1);
        let shift = if own.first().is_some_and(|s| s.is_empty()) {
            0
        } else {
            strings.push(String::new());
            1
        };
        strings.extend(own.iter().cloned());
        let mut index = HashMap::with_capacity(strings.len());
        for (i, s) in strings.iter().enumerate() {
            index.entry(s.clone()).or_insert(i as i64);
        }
        Table {
            strings,
            index,
            shift,
        }
    }

    fn intern(&mut self, s: &str) -> i64 {
        if let Some(&i) = self.index.get(s) {
            return i;
        }
        let i = self.strings.len() as i64;
        self.strings.push(s.to_string());
        self.index.insert(s.to_string(), i);
        i
    }

    /// A label's index into the profile's own table; one past it reads as "" (as
    /// [`Profile::string`] does).
    fn label(&self, own_len: usize, index: u32) -> i64 {
        if index == 0 || index as usize >= own_len {
            0
        } else {
            index as i64 + self.shift
        }
    }
}

/// Writes `profile` as raw `profile.proto` bytes. Ids are table positions plus one. A
/// profile whose indexes point nowhere is written as it is, and [`decode`] names the
/// dangling index.
pub fn encode(profile: &Profile) -> Vec<u8> {
    to_message(profile).encode_to_vec()
}

/// [`encode`], gzipped as Go serves profiles.
pub fn encode_gzip(profile: &Profile) -> Vec<u8> {
    gzip(&encode(profile))
}

/// Gzips raw `profile.proto` bytes (a Rust service's CPU profile comes raw; captures keep
/// every pprof file gzipped, as their `.pb.gz` names say).
pub fn gzip(raw: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(raw.len() / 4),
        flate2::Compression::default(),
    );
    // Writing into a Vec cannot fail.
    let _ = encoder.write_all(raw);
    encoder.finish().unwrap_or_default()
}

fn to_message(p: &Profile) -> proto::Profile {
    let own = p.strings.len();
    let mut t = Table::new(&p.strings);
    let value_type = |v: &ValueType, t: &mut Table| proto::ValueType {
        r#type: t.intern(&v.kind),
        unit: t.intern(&v.unit),
    };
    let sample_type = p
        .sample_types
        .iter()
        .map(|v| value_type(v, &mut t))
        .collect();
    let period_type = p.period_type.as_ref().map(|v| value_type(v, &mut t));
    let sample = p
        .samples
        .iter()
        .map(|s| proto::Sample {
            location_id: s.locations.iter().map(|&l| l as u64 + 1).collect(),
            value: s.values.clone(),
            label: s
                .labels
                .iter()
                .map(|l| proto::Label {
                    key: t.label(own, l.key),
                    str: t.label(own, l.text),
                    num: l.number,
                    num_unit: t.label(own, l.unit),
                })
                .collect(),
        })
        .collect();
    let mapping = p
        .mappings
        .iter()
        .enumerate()
        .map(|(i, m)| proto::Mapping {
            id: i as u64 + 1,
            memory_start: m.start,
            memory_limit: m.limit,
            file_offset: m.file_offset,
            filename: t.intern(&m.filename),
            build_id: t.intern(&m.build_id),
            has_functions: m.has_functions,
            has_filenames: m.has_filenames,
            has_line_numbers: m.has_line_numbers,
            has_inline_frames: m.has_inline_frames,
        })
        .collect();
    let location = p
        .locations
        .iter()
        .enumerate()
        .map(|(i, l)| proto::Location {
            id: i as u64 + 1,
            mapping_id: l.mapping.map_or(0, |m| m as u64 + 1),
            address: l.address,
            line: l
                .lines
                .iter()
                .map(|line| proto::Line {
                    function_id: line.function as u64 + 1,
                    line: line.line,
                    column: line.column,
                })
                .collect(),
            is_folded: l.is_folded,
        })
        .collect();
    let function = p
        .functions
        .iter()
        .enumerate()
        .map(|(i, f)| proto::Function {
            id: i as u64 + 1,
            name: t.intern(&f.name),
            system_name: t.intern(&f.system_name),
            filename: t.intern(&f.filename),
            start_line: f.start_line,
        })
        .collect();
    let mut optional = |s: &Option<String>| s.as_deref().map_or(0, |s| t.intern(s));
    let drop_frames = optional(&p.drop_frames);
    let keep_frames = optional(&p.keep_frames);
    let default_sample_type = optional(&p.default_sample_type);
    let doc_url = optional(&p.doc_url);
    let comment = p.comments.iter().map(|c| t.intern(c)).collect();
    proto::Profile {
        sample_type,
        sample,
        mapping,
        location,
        function,
        string_table: t.strings,
        drop_frames,
        keep_frames,
        time_nanos: p.time_nanos,
        duration_nanos: p.duration_nanos,
        period_type,
        period: p.period,
        comment,
        default_sample_type,
        doc_url,
    }
}

impl std::fmt::Display for Limits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} compressed, {} decoded",
            human_bytes(self.max_compressed_bytes),
            human_bytes(self.max_decoded_bytes)
        )
    }
}

#[cfg(test)]
mod tests;
