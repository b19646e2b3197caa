//! The turns the daemon answered, kept for the status page: the last
//! [`RECENT_TURNS`] as they ended, and the tokens each client family spent
//! in the last hour, summed per minute so the memory it takes is bounded
//! however busy the hour was. Never a prompt or an answer: counts and names.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Instant;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::client::Client;
use super::usage::{Meter, Usage, cache_hit_ratio};

/// How many ended turns `/v1/status` lists.
pub const RECENT_TURNS: usize = 50;

/// The span of [`Ledger::last_hour`], in minutes.
const WINDOW_MINUTES: i64 = 60;

/// One ended turn, as the status page lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TurnRecord {
    /// When it ended.
    pub at: Timestamp,
    /// The route it came in on, as the metrics name it (`responses`,
    /// `responses_websocket`, `chat_completions`, `messages`).
    pub door: String,
    pub client: Client,
    pub model: Option<String>,
    /// The `reasoning.effort` sent to the backend.
    pub effort: Option<String>,
    pub stream: bool,
    pub status: u16,
    /// From its arrival to the backend's first event.
    pub first_event_ms: Option<u64>,
    pub duration_ms: u64,
    /// `None`: the backend said nothing of what it cost.
    pub usage: Option<Usage>,
}

/// What a door knows of a turn when it ends.
#[derive(Debug, Clone, Copy)]
pub struct Turn<'a> {
    pub door: &'static str,
    pub client: Client,
    pub model: Option<&'a str>,
    pub stream: bool,
    pub status: u16,
}

impl TurnRecord {
    /// The record of `turn`, begun at `start`, with what its meter saw.
    pub fn new(turn: Turn<'_>, start: Instant, meter: &Meter) -> TurnRecord {
        let reading = meter.reading();
        let ms = |d: std::time::Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        TurnRecord {
            at: Timestamp::now(),
            door: turn.door.to_owned(),
            client: turn.client,
            model: turn.model.map(str::to_owned),
            effort: reading.effort,
            stream: turn.stream,
            status: turn.status,
            first_event_ms: reading
                .first_event
                .map(|first| ms(first.saturating_duration_since(start))),
            duration_ms: ms(start.elapsed()),
            usage: reading.usage,
        }
    }

    /// Input, cached input, output and reasoning tokens for the summary
    /// line: all `None` (left out) when the backend did not say.
    pub fn token_counts(&self) -> [Option<u64>; 4] {
        let kinds = self.usage.map(Usage::kinds);
        [0, 1, 2, 3].map(|i| kinds.map(|k| k[i].1))
    }
}

/// One client family's spending over the last hour.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientUsage {
    pub client: Client,
    pub turns: u64,
    /// Turns whose final event said what they cost.
    pub turns_with_usage: u64,
    #[serde(flatten)]
    pub usage: Usage,
    /// `cached_input ÷ input`; `None` without input.
    pub cache_hit_ratio: Option<f64>,
}

#[derive(Debug, Clone, Copy, Default)]
struct Tally {
    turns: u64,
    metered: u64,
    usage: Usage,
}

#[derive(Debug)]
struct Minute {
    /// Minutes since the epoch.
    minute: i64,
    tallies: [Tally; Client::ALL.len()],
}

#[derive(Debug, Default)]
struct Book {
    recent: VecDeque<TurnRecord>,
    minutes: VecDeque<Minute>,
}

/// The recent turns and the last hour's tallies. Share it; every method takes `&self`.
#[derive(Debug, Default)]
pub struct Ledger(Mutex<Book>);

impl Ledger {
    pub fn record(&self, turn: TurnRecord) {
        let mut book = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let minute = turn.at.as_second().div_euclid(60);
        book.minutes
            .retain(|m| m.minute > minute - WINDOW_MINUTES && m.minute <= minute);
        if book.minutes.back().is_none_or(|m| m.minute != minute) {
            book.minutes.push_back(Minute {
                minute,
                tallies: [Tally::default(); Client::ALL.len()],
            });
        }
        if let Some(last) = book.minutes.back_mut() {
            let tally = &mut last.tallies[turn.client.index()];
            tally.turns += 1;
            if let Some(usage) = turn.usage {
                tally.metered += 1;
                tally.usage.add(usage);
            }
        }
        if book.recent.len() == RECENT_TURNS {
            book.recent.pop_front();
        }
        book.recent.push_back(turn);
    }

    /// The last [`RECENT_TURNS`] turns, newest first.
    pub fn recent(&self) -> Vec<TurnRecord> {
        let book = self.0.lock().unwrap_or_else(|e| e.into_inner());
        book.recent.iter().rev().cloned().collect()
    }

    /// What each client family that sent a turn in the hour before `now` spent.
    pub fn last_hour(&self, now: Timestamp) -> Vec<ClientUsage> {
        let now = now.as_second().div_euclid(60);
        let book = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let mut sums = [Tally::default(); Client::ALL.len()];
        for minute in book
            .minutes
            .iter()
            .filter(|m| m.minute > now - WINDOW_MINUTES)
        {
            for (sum, tally) in sums.iter_mut().zip(minute.tallies) {
                sum.turns += tally.turns;
                sum.metered += tally.metered;
                sum.usage.add(tally.usage);
            }
        }
        Client::ALL
            .into_iter()
            .zip(sums)
            .filter(|(_, sum)| sum.turns > 0)
            .map(|(client, sum)| ClientUsage {
                client,
                turns: sum.turns,
                turns_with_usage: sum.metered,
                usage: sum.usage,
                cache_hit_ratio: cache_hit_ratio(sum.usage.cached_input, sum.usage.input),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn turn(at: i64, client: Client, usage: Option<Usage>) -> TurnRecord {
        TurnRecord {
            at: Timestamp::from_second(at).unwrap(),
            door: "responses".into(),
            client,
            model: Some("gpt-5".into()),
            effort: None,
            stream: true,
            status: 200,
            first_event_ms: Some(5),
            duration_ms: 20,
            usage,
        }
    }

    fn used(input: u64, cached_input: u64) -> Option<Usage> {
        Some(Usage {
            input,
            cached_input,
            output: 3,
            reasoning: 1,
        })
    }

    const T: i64 = 1_760_000_000;

    #[test]
    fn the_last_fifty_turns_are_kept_newest_first() {
        let ledger = Ledger::default();
        for i in 0..(RECENT_TURNS as i64 + 7) {
            ledger.record(turn(T + i, Client::Other, None));
        }
        let recent = ledger.recent();
        assert_eq!(recent.len(), RECENT_TURNS);
        assert_eq!(recent[0].at.as_second(), T + RECENT_TURNS as i64 + 6);
        assert_eq!(recent[RECENT_TURNS - 1].at.as_second(), T + 7);
    }

    #[test]
    fn the_last_hour_sums_each_client_and_its_cache_hit_ratio() {
        let ledger = Ledger::default();
        ledger.record(turn(T, Client::CodexCli, used(100, 80)));
        ledger.record(turn(T + 30, Client::CodexCli, used(100, 20)));
        // A turn without usage counts as a turn, and adds no tokens.
        ledger.record(turn(T + 60, Client::CodexCli, None));
        ledger.record(turn(T + 90, Client::ClaudeCode, used(40, 0)));
        let hour = ledger.last_hour(Timestamp::from_second(T + 120).unwrap());
        assert_eq!(hour.len(), 2);
        let codex = &hour[0];
        assert_eq!(codex.client, Client::CodexCli);
        assert_eq!((codex.turns, codex.turns_with_usage), (3, 2));
        assert_eq!((codex.usage.input, codex.usage.cached_input), (200, 100));
        assert_eq!((codex.usage.output, codex.usage.reasoning), (6, 2));
        assert_eq!(codex.cache_hit_ratio, Some(0.5));
        assert_eq!(hour[1].client, Client::ClaudeCode);
        assert_eq!(hour[1].cache_hit_ratio, Some(0.0));
    }

    #[test]
    fn turns_older_than_an_hour_leave_the_totals_but_not_the_recent_list() {
        let ledger = Ledger::default();
        ledger.record(turn(T, Client::OpenaiSdk, used(10, 5)));
        ledger.record(turn(T + 3600, Client::AiSdk, used(10, 0)));
        let hour = ledger.last_hour(Timestamp::from_second(T + 3600).unwrap());
        let clients: Vec<Client> = hour.iter().map(|c| c.client).collect();
        assert_eq!(clients, [Client::AiSdk]);
        assert_eq!(ledger.recent().len(), 2);
        let later = ledger.last_hour(Timestamp::from_second(T + 3 * 3600).unwrap());
        assert!(later.is_empty());
        // Sixty minutes of traffic keep at most sixty buckets.
        for minute in 0..200 {
            ledger.record(turn(T + 7200 + minute * 60, Client::Other, None));
        }
        let buckets = ledger.0.lock().unwrap().minutes.len();
        assert_eq!(buckets, WINDOW_MINUTES as usize);
    }

    #[test]
    fn a_record_measures_its_first_event_and_duration_from_the_start() {
        let meter = Meter::default();
        let start = Instant::now();
        meter.frame(r#"{"type":"response.created"}"#);
        let door = Turn {
            door: "responses_websocket",
            client: Client::CodexCli,
            model: Some("gpt-5"),
            stream: true,
            status: 200,
        };
        let record = TurnRecord::new(door, start, &meter);
        assert_eq!(record.door, "responses_websocket");
        assert_eq!(record.model.as_deref(), Some("gpt-5"));
        assert!(
            record
                .first_event_ms
                .is_some_and(|ms| ms <= record.duration_ms)
        );
        assert_eq!(record.usage, None);
    }
}
