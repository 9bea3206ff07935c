// Validates Prometheus text exposition output: every sample line matches the grammar, every metric has HELP and TYPE first.
export interface ParsedSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const LABEL_VALUE = '"(?:[^"\\\\\\n]|\\\\[\\\\"n])*"';
const LABELS = `\\{(?:[a-zA-Z_][a-zA-Z0-9_]*=${LABEL_VALUE}(?:,[a-zA-Z_][a-zA-Z0-9_]*=${LABEL_VALUE})*,?)?\\}`;
const VALUE = '(?:[+-]?(?:\\d+(?:\\.\\d*)?|\\.\\d+)(?:[eE][+-]?\\d+)?|NaN|[+-]Inf)';
const SAMPLE = new RegExp(`^(${NAME})(${LABELS})? (${VALUE})(?: -?\\d+)?$`);

/** Parses and checks the text; throws with the line number on the first violation. */
export function parseExposition(text: string): ParsedSample[] {
  if (!text.endsWith('\n')) throw new Error('exposition must end with a newline');
  const help = new Set<string>();
  const type = new Map<string, string>();
  const samples: ParsedSample[] = [];
  const seen = new Set<string>();
  text
    .slice(0, -1)
    .split('\n')
    .forEach((line, i) => {
      const where = `line ${i + 1}: ${JSON.stringify(line)}`;
      let m: RegExpExecArray | null;
      if ((m = new RegExp(`^# HELP (${NAME}) (.*)$`).exec(line))) {
        if (help.has(m[1]!)) throw new Error(`${where}: second HELP`);
        help.add(m[1]!);
      } else if ((m = new RegExp(`^# TYPE (${NAME}) (counter|gauge|histogram|summary|untyped)$`).exec(line))) {
        if (type.has(m[1]!)) throw new Error(`${where}: second TYPE`);
        if (samples.some((s) => s.name === m![1])) throw new Error(`${where}: TYPE after samples`);
        type.set(m[1]!, m[2]!);
      } else if (line.startsWith('#')) {
        throw new Error(`${where}: unknown comment`);
      } else if ((m = SAMPLE.exec(line))) {
        const name = m[1]!;
        if (!help.has(name) || !type.has(name)) throw new Error(`${where}: sample without HELP and TYPE`);
        const labels: Record<string, string> = {};
        for (const l of (m[2] ?? '').matchAll(new RegExp(`([a-zA-Z_][a-zA-Z0-9_]*)=(${LABEL_VALUE})`, 'g'))) {
          labels[l[1]!] = JSON.parse(l[2]!) as string;
        }
        const key = `${name}${JSON.stringify(Object.entries(labels).sort())}`;
        if (seen.has(key)) throw new Error(`${where}: duplicate series`);
        seen.add(key);
        samples.push({ name, labels, value: Number(m[3]!.replace('Inf', 'Infinity')) });
      } else {
        throw new Error(`${where}: not a valid exposition line`);
      }
    });
  for (const name of type.keys()) if (!help.has(name)) throw new Error(`${name}: TYPE without HELP`);
  return samples;
}

/** The value of one series; throws when it is absent. */
export function sampleValue(samples: ParsedSample[], name: string, labels: Record<string, string> = {}): number {
  const s = samples.find((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v));
  if (!s) throw new Error(`no sample ${name}${JSON.stringify(labels)}`);
  return s.value;
}
