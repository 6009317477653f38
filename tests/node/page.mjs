// Drives kt-serve's web page in Debian's chromium (headless, no browser download): types text, presses
// Synthesize, waits for the audio element to get a playable duration, seeks into a word and reads which
// word is highlighted; tries a blend and an error too.
// usage: node page.mjs URL   (prints one JSON line)
import puppeteer from 'puppeteer-core';

const url = process.argv[2];
const browser = await puppeteer.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--autoplay-policy=no-user-gesture-required'],
  timeout: 60000,
});
const out = {};
try {
  const page = await browser.newPage();
  page.setDefaultTimeout(60000);
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(url, { waitUntil: 'load' });
  await page.waitForSelector('body[data-ready="1"]');
  out.voices = await page.$$eval('#voice option', (os) => os.map((o) => o.value));

  async function synth() {
    await page.evaluate(() => {
      const a = document.getElementById('audio');
      a.removeAttribute('src');
      a.load();
      document.getElementById('status').textContent = '';
    });
    await page.click('#synthesize');
    await page.waitForFunction(() => {
      const a = document.getElementById('audio');
      const st = document.getElementById('status');
      return (a.readyState >= 1 && isFinite(a.duration) && a.duration > 0) || st.className === 'error';
    });
    return page.evaluate(() => ({
      duration: document.getElementById('audio').duration,
      status: document.getElementById('status').textContent,
      error: document.getElementById('status').className === 'error',
      download: document.getElementById('download').getAttribute('download'),
    }));
  }

  await page.click('#text', { clickCount: 3 });
  await page.keyboard.press('Backspace');
  await page.type('#text', 'Typed in a real browser. Then spoken.');
  out.plain = await synth();

  // the words from the captioned endpoint: seeking into the third one highlights it alone
  out.words = await page.evaluate(async () => {
    const a = document.getElementById('audio');
    const spans = [...document.querySelectorAll('#words span')];
    const pick = spans[2];
    a.pause();
    const seeked = new Promise((r) => { a.addEventListener('seeked', r, { once: true }); });
    a.currentTime = (Number(pick.dataset.start) + Number(pick.dataset.end)) / 2;
    await seeked;
    return { words: spans.map((s) => s.textContent.trim()),
             spoken: [...document.querySelectorAll('#words span.spoken')].map((s) => s.textContent.trim()) };
  });

  // a blend of two voices with the sliders
  await page.click('#blend-on');
  const names = out.voices.slice(0, 2);
  for (const n of names) {
    await page.$eval('#w-' + n, (s) => { s.value = '0.5'; s.dispatchEvent(new Event('input')); });
  }
  out.expr = await page.$eval('#voice-expr', (e) => e.textContent);
  await page.select('#format', 'mp3');
  out.blend = await synth();

  // an error is shown, not thrown
  await page.$eval('#text', (t) => { t.value = ''; });
  await page.click('#synthesize');
  out.empty = await page.$eval('#status', (e) => e.className);
  out.page_errors = errors;
} finally {
  await browser.close();
}
console.log(JSON.stringify(out));
