// Expand an iCalendar feed with Mozilla's ical.js, the parser inside Thunderbird, and print its occurrences.
//
//   node expand.mjs START END [FILE]      (reads the feed from stdin when FILE is left out)
//
// START and END are UTC instants such as 2026-11-26T00:00:00Z. Prints a JSON array, sorted, with one object per
// occurrence whose start is in [START, END): {uid, start, end, status, summary}, times in UTC to the second.
// Time zones come only from the feed's own VTIMEZONE components, as in Thunderbird: a TZID without one would
// be read as floating time, and the tests would see the meeting move.
import { readFileSync } from 'node:fs';
import ICAL from 'ical.js';

// Moved meetings are looked up by their original start, which can lie outside the window: walk the rule
// this far past the end of the window before giving up.
const MOVE_SLACK_SECONDS = 400 * 24 * 3600;

function utc(time) {
  return new Date(time.toUnixTime() * 1000).toISOString().replace('.000Z', 'Z');
}

function main() {
  const [start, end, file] = process.argv.slice(2);
  if (!start || !end) {
    process.stderr.write('usage: node expand.mjs START END [FILE]\n');
    process.exit(2);
  }
  const windowStart = Date.parse(start) / 1000;
  const windowEnd = Date.parse(end) / 1000;
  const text = readFileSync(file ?? 0, 'utf8');
  const calendar = new ICAL.Component(ICAL.parse(text));

  ICAL.TimezoneService.reset();
  for (const vtimezone of calendar.getAllSubcomponents('vtimezone')) {
    ICAL.TimezoneService.register(vtimezone);
  }

  const occurrences = [];
  const add = (uid, details) => {
    const from = details.startDate.toUnixTime();
    if (from < windowStart || from >= windowEnd) {
      return;
    }
    const item = details.item;
    occurrences.push({
      uid,
      start: utc(details.startDate),
      end: utc(details.endDate),
      status: item.component.getFirstPropertyValue('status') ?? '',
      summary: item.summary ?? '',
    });
  };

  const events = calendar.getAllSubcomponents('vevent');
  const overrides = new Map();
  for (const component of events.filter((c) => c.hasProperty('recurrence-id'))) {
    const uid = component.getFirstPropertyValue('uid');
    overrides.set(uid, [...(overrides.get(uid) ?? []), component]);
  }
  for (const component of events.filter((c) => !c.hasProperty('recurrence-id'))) {
    // Overrides are related by UID, as calendar apps do (ical.js alone would relate every override in the file).
    const uid = component.getFirstPropertyValue('uid');
    const event = new ICAL.Event(component, { strictExceptions: true, exceptions: overrides.get(uid) ?? [] });
    if (!event.isRecurring()) {
      add(event.uid, { startDate: event.startDate, endDate: event.endDate, item: event });
      continue;
    }
    const iterator = event.iterator();
    for (let next = iterator.next(); next; next = iterator.next()) {
      if (next.toUnixTime() >= windowEnd + MOVE_SLACK_SECONDS) {
        break;
      }
      add(event.uid, event.getOccurrenceDetails(next));
    }
  }

  const key = (o) => `${o.start} ${o.uid} ${o.end}`;
  occurrences.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
  process.stdout.write(JSON.stringify(occurrences) + '\n');
}

main();
