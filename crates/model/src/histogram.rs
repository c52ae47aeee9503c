//! `histograms.json`: HDR latency histograms per phase × endpoint, corrected and raw.
//!
//! Each histogram is stored in HdrHistogram's V2 deflate format, base64-encoded — the
//! interchange format every HdrHistogram implementation reads — so files from several
//! load machines can be merged without losing precision.

use base64::Engine;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};
use serde::{Deserialize, Serialize};

use crate::ModelError;

/// Unit of every value recorded in the histograms.
pub const HISTOGRAM_UNIT: &str = "microseconds";

/// The whole `histograms.json` file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistogramFile {
    /// Always [`HISTOGRAM_UNIT`].
    pub unit: String,
    /// One entry per phase × endpoint that saw at least one request.
    pub entries: Vec<HistogramEntry>,
}

/// Latency histograms of one endpoint in one phase.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistogramEntry {
    /// Phase index in the manifest.
    pub phase: u32,
    /// Endpoint name.
    pub endpoint: String,
    /// Latency from intended send time.
    pub corrected: EncodedHistogram,
    /// Latency from actual send time.
    pub raw: EncodedHistogram,
}

/// A histogram in HdrHistogram V2 deflate format, base64.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EncodedHistogram(pub String);

impl EncodedHistogram {
    /// Encodes a histogram.
    pub fn encode(h: &Histogram<u64>) -> Self {
        let mut buf = Vec::new();
        V2DeflateSerializer::new()
            .serialize(h, &mut buf)
            .expect("serializing into a Vec cannot fail");
        Self(base64::engine::general_purpose::STANDARD.encode(buf))
    }

    /// Decodes a histogram.
    pub fn decode(&self) -> Result<Histogram<u64>, String> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(&self.0)
            .map_err(|e| format!("not base64: {e}"))?;
        Deserializer::new()
            .deserialize(&mut bytes.as_slice())
            .map_err(|e| format!("not an HdrHistogram: {e:?}"))
    }
}

impl HistogramFile {
    /// An empty file in microseconds.
    pub fn new() -> Self {
        Self {
            unit: HISTOGRAM_UNIT.into(),
            entries: Vec::new(),
        }
    }

    /// Adds `other`'s histograms into this file, entry by entry (phase × endpoint).
    pub fn merge(&mut self, other: &HistogramFile) -> Result<(), ModelError> {
        for theirs in &other.entries {
            let pos = self
                .entries
                .iter()
                .position(|e| e.phase == theirs.phase && e.endpoint == theirs.endpoint);
            let Some(pos) = pos else {
                self.entries.push(theirs.clone());
                continue;
            };
            let ours = &mut self.entries[pos];
            let err = |message: String| ModelError::Histogram {
                phase: theirs.phase,
                endpoint: theirs.endpoint.clone(),
                message,
            };
            for (mine, other) in [
                (&mut ours.corrected, &theirs.corrected),
                (&mut ours.raw, &theirs.raw),
            ] {
                let mut a = mine.decode().map_err(err)?;
                let b = other.decode().map_err(err)?;
                a.add(&b).map_err(|e| err(format!("{e:?}")))?;
                *mine = EncodedHistogram::encode(&a);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hist(values: &[u64]) -> Histogram<u64> {
        let mut h = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).unwrap();
        for v in values {
            h.record(*v).unwrap();
        }
        h
    }

    #[test]
    fn encoding_round_trips_and_keeps_precision() {
        let h = hist(&[1_000, 2_000, 380_000, 1_234_567]);
        let back = EncodedHistogram::encode(&h).decode().unwrap();
        assert_eq!(back.len(), 4);
        assert_eq!(back.max(), h.max());
        // 3 significant digits: 1,234,567 µs is kept to within 0.1 %.
        assert!((back.max() as f64 - 1_234_567.0).abs() / 1_234_567.0 < 0.001);
    }

    #[test]
    fn merge_adds_matching_entries_and_keeps_the_rest() {
        let entry = |phase, endpoint: &str, v: &[u64]| HistogramEntry {
            phase,
            endpoint: endpoint.into(),
            corrected: EncodedHistogram::encode(&hist(v)),
            raw: EncodedHistogram::encode(&hist(v)),
        };
        let mut a = HistogramFile::new();
        a.entries.push(entry(0, "GET /", &[10, 20]));
        let mut b = HistogramFile::new();
        b.entries.push(entry(0, "GET /", &[30]));
        b.entries.push(entry(1, "GET /", &[40]));
        a.merge(&b).unwrap();
        assert_eq!(a.entries.len(), 2);
        let merged = a.entries[0].corrected.decode().unwrap();
        assert_eq!(merged.len(), 3);
        assert_eq!(merged.max(), 30);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(EncodedHistogram("!!".into()).decode().is_err());
        assert!(EncodedHistogram("AAAA".into()).decode().is_err());
    }
}
