// The real openai npm client against kt-serve: every response_format, streaming, a wrong key.
// usage: node openai_client.mjs BASE_URL API_KEY VOICE   (prints one JSON line of results)
import OpenAI from 'openai';

const [base, key, voice] = process.argv.slice(2);
const client = new OpenAI({ baseURL: base, apiKey: key, maxRetries: 0, timeout: 60000 });
const out = { formats: {}, stream: null, wrong_key: null, aac: null };

for (const fmt of ['mp3', 'opus', 'flac', 'wav', 'pcm']) {
  const r = await client.audio.speech.create({ model: 'tts-1', voice, input: 'Hello from the openai client.',
                                               response_format: fmt });
  const b = Buffer.from(await r.arrayBuffer());
  out.formats[fmt] = { status: r.status, bytes: b.length, head: b.subarray(0, 4).toString('hex'),
                       type: r.headers.get('content-type') };
}

try {
  await client.audio.speech.create({ model: 'tts-1', voice, input: 'x', response_format: 'aac' });
  out.aac = 'no error';
} catch (e) { out.aac = { status: e.status, message: e.message }; }

// streaming: chunks arrive while the rest is synthesized (pcm as made; mp3 through the encoder)
out.stream = {};
for (const fmt of ['pcm', 'mp3']) {
  const t0 = performance.now();
  const text = Array(6).fill('This sentence is one of several in a streamed answer.').join(' ');
  const r = await client.audio.speech.create({ model: 'kokoro', voice, input: text, response_format: fmt });
  let chunks = 0, bytes = 0, first = null;
  for await (const c of r.body) {
    if (first === null) first = (performance.now() - t0) / 1000;
    chunks++; bytes += c.length;
  }
  out.stream[fmt] = { status: r.status, chunks, bytes, first_byte_seconds: first,
                      total_seconds: (performance.now() - t0) / 1000,
                      transfer_encoding: r.headers.get('transfer-encoding') };
}

{
  const bad = new OpenAI({ baseURL: base, apiKey: key + 'x', maxRetries: 0, timeout: 20000 });
  try {
    await bad.audio.speech.create({ model: 'tts-1', voice, input: 'Hello.' });
    out.wrong_key = 'no error';
  } catch (e) { out.wrong_key = { status: e.status, type: e.error?.type ?? null }; }
}
console.log(JSON.stringify(out));
