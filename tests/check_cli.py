#!/usr/bin/python3
"""The command-line conventions every kt tool follows (docs/cli.md), on the tiny fixture model:
-f with text on the command line is a usage error, '--' ends the options, '-' is stdin or
stdout, --help shows examples, and the exit statuses of the one table. Voices embedded in a
converted model are found by name from -m's file, and FILE:MEMBER reaches them. Needs no
espeak-ng (phoneme input only) and no PyTorch."""
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("KT_BUILD", "build")
TINY = os.path.join(ROOT, "fixtures", "tiny")
MODEL = os.path.join(TINY, "kokoro-tiny.pth")
CONFIG = os.path.join(TINY, "config.json")
VOICES = os.path.join(TINY, "voices")
PHONEMES = "həlˈO wˈɜɹld"

failures = []
PRIVATE_TMP = tempfile.mkdtemp(prefix="kt-check-cli-")  # TMPDIR of the tools: '-' leaves nothing there


def check(ok, what, detail=""):
    print("%s %s%s" % ("ok  " if ok else "FAIL", what, "" if ok else ": " + detail))
    if not ok:
        failures.append(what)


def run(tool, args, stdin=None, cwd=None):
    r = subprocess.run([os.path.join(os.path.abspath(BUILD), tool)] + args, input=stdin, capture_output=True,
                       timeout=300, cwd=cwd, env=dict(os.environ, KT_VOICES=VOICES, TMPDIR=PRIVATE_TMP))
    return r.returncode, r.stdout, r.stderr.decode("utf-8", "replace")


def expect(tool, args, code, what, stdin=None, cwd=None, stderr_has=None):
    rc, out, err = run(tool, args, stdin, cwd)
    ok = rc == code and (stderr_has is None or stderr_has in err)
    check(ok, what, "%s %s: exit %d (want %d), stderr %r" % (tool, " ".join(args), rc, code, err.strip()))
    if ok and code and err.strip().count("\n") > 1:
        check(False, what + ": a short message", "stderr has %d lines: %r" % (err.count("\n"), err))
    return out


def main():
    for tool in ("kt-inspect", "kt-blend", "kt-convert", "kt-synth"):
        rc, out, _ = run(tool, ["--help"])
        text = out.decode()
        check(rc == 0 and "examples:" in text and "exit status" in text, tool + " --help: examples and exit statuses",
              text[-300:])
        expect(tool, ["--no-such-option"], 2, tool + ": an unknown option exits 2")
    rc, out, err = run("kt-synth", ["--print-phonemes", "Hello world, it's me."])
    if "no espeak-ng" in err:  # make ESPEAK=0: text input fails, naming its words; phonemes work
        check(rc == 1 and err.count("\n") == 1 and all(w in err for w in ("Hello", "world", "it's", "me")),
              "ESPEAK=0: text input is one error line naming the words, exit 1", "exit %d: %r" % (rc, err))
        rc, out, err = run("kt-synth", ["--print-phonemes", "--phonemes", "--lang", "fr", PHONEMES])
        check(rc == 0 and out.decode().strip() == PHONEMES, "ESPEAK=0: phoneme input works for any language", err)
    else:
        check(rc == 0 and out.strip(), "text input gives phonemes (espeak-ng build)", err)
    with tempfile.TemporaryDirectory() as d:
        syn = ["-m", MODEL, "-c", CONFIG, "--phonemes", "-v", "af_tiny"]
        txt = os.path.join(d, "t.txt")
        with open(txt, "w") as f:
            f.write(PHONEMES)
        wav = os.path.join(d, "a.wav")
        expect("kt-synth", syn + ["-f", txt, "-o", wav, PHONEMES], 2, "kt-synth: -f FILE with text is exit 2",
               stderr_has="not both")
        check(not os.path.exists(wav), "kt-synth: no output after a usage error")
        expect("kt-synth", syn + ["-o", wav, "-f", txt], 0, "kt-synth -f FILE")
        ref = open(wav, "rb").read()
        b = os.path.join(d, "b.wav")
        expect("kt-synth", syn + ["-o", b, "-"], 0, "kt-synth: '-' reads stdin", stdin=PHONEMES.encode())
        check(open(b, "rb").read() == ref, "kt-synth: '-' reads the same text as -f")
        expect("kt-synth", syn + ["-o", b, "-f", "-"], 0, "kt-synth: -f - reads stdin", stdin=PHONEMES.encode())
        check(open(b, "rb").read() == ref, "kt-synth: -f - reads the same text")
        out = expect("kt-synth", syn + ["-o", "-", PHONEMES], 0, "kt-synth -o - streams WAV")
        check(out[:4] == b"RIFF", "kt-synth -o -: a WAV on stdout")
        expect("kt-synth", syn + ["-o", b, "--", "-x"], 1, "kt-synth: after '--' '-x' is text, not an option",
               stderr_has="phoneme")
        expect("kt-synth", syn + ["-o", b, "-v", "af_nobody", PHONEMES], 1, "kt-synth: unknown voice exits 1")
        expect("kt-synth", ["-m", CONFIG, "-c", CONFIG, "--phonemes", "-v", "af_tiny", "-o", b, PHONEMES], 4,
               "kt-synth: weights that are not Kokoro exit 4")
        expect("kt-synth", syn + ["-o", os.path.join(d, "no", "x.wav"), PHONEMES], 3,
               "kt-synth: an unwritable output exits 3")

        # a converted model with its voices embedded: found by name, and as FILE:MEMBER
        q8 = os.path.join(d, "kokoro-q8.safetensors")
        expect("kt-convert", [MODEL, "-o", q8, "--dtype", "q8", "--voices", VOICES], 0, "kt-convert --voices")
        emb = ["-m", q8, "-c", CONFIG, "--phonemes", "--voices", os.path.join(d, "none")]
        e1, e2, e3 = (os.path.join(d, "e%d.wav" % i) for i in range(3))
        expect("kt-synth", emb + ["-v", "af_tiny", "-o", e1, PHONEMES], 0, "kt-synth -m MODEL -v NAME: embedded voice")
        expect("kt-synth", emb + ["-v", q8 + ":voices.af_tiny", "-o", e2, PHONEMES], 0, "FILE:voices.NAME")
        expect("kt-synth", emb + ["-v", q8 + ":af_tiny", "-o", e3, PHONEMES], 0, "FILE:NAME of an embedded voice")
        same = open(e1, "rb").read() == open(e2, "rb").read() == open(e3, "rb").read()
        check(same, "the three ways to name an embedded voice give the same audio")
        expect("kt-synth", emb + ["-v", "af_nobody", "-o", e1, PHONEMES], 1, "an unknown embedded voice exits 1",
               stderr_has="no voices.af_nobody in")
        expect("kt-blend", [q8 + ":af_tiny", "-o", os.path.join(d, "x.pt")], 0, "kt-blend reads FILE:NAME")

        # '-' and '--' in kt-inspect, kt-convert and kt-blend
        voice = os.path.join(VOICES, "af_tiny.pt")
        listing = expect("kt-inspect", [voice], 0, "kt-inspect FILE")
        with open(voice, "rb") as f:
            got = expect("kt-inspect", ["-"], 0, "kt-inspect - reads stdin", stdin=f.read())
        check(got.split(b"\n")[1:2] == listing.split(b"\n")[1:2], "kt-inspect -: the same tensors", repr(got))
        st = expect("kt-convert", [voice, "-o", "-"], 0, "kt-convert -o - writes to stdout")
        check(st[8:9] == b"{", "kt-convert -o -: safetensors on stdout", repr(st[:16]))
        expect("kt-inspect", ["-"], 0, "kt-inspect - reads kt-convert's stdout", stdin=st)
        with open(voice, "rb") as f:
            expect("kt-convert", ["-", "-o", os.path.join(d, "v.npz")], 0, "kt-convert - reads stdin", stdin=f.read())
        expect("kt-convert", [voice, "-o", "-", "--json"], 2, "kt-convert -o - --json is a usage error")
        pt = expect("kt-blend", ["af_tiny:0.5", "am_tiny:0.5", "-o", "-"], 0, "kt-blend -o - writes to stdout")
        check(pt[:2] == b"PK", "kt-blend -o -: a .pt (zip) on stdout", repr(pt[:8]))
        listed = expect("kt-blend", ["--list", "-"], 0, "kt-blend --list - reads stdin", stdin=pt)
        check(b"1 voice" in listed, "kt-blend --list -: one voice", repr(listed))
        expect("kt-blend", ["--no-normalize", "-o", os.path.join(d, "m.pt"), "--", "-am_tiny", "af_tiny:2"], 0,
               "kt-blend: '--' ends the options ('-am_tiny' is a term)")
        dash = os.path.join(d, "-odd.pt")
        expect("kt-blend", ["af_tiny", "-o", dash], 0, "kt-blend writes a file whose name starts with '-'")
        expect("kt-inspect", ["--", "-odd.pt"], 0, "kt-inspect -- -odd.pt", cwd=d)
        expect("kt-convert", ["--", "-odd.pt", "-o", "x.npz"], 2, "kt-convert: after '--' '-o' is a file",
               cwd=d, stderr_has="more than one input")
        left = os.listdir(PRIVATE_TMP)
        check(not left, "no temp files left behind by '-'", str(left))
    os.rmdir(PRIVATE_TMP) if not os.listdir(PRIVATE_TMP) else None
    if failures:
        print("check_cli: %d failed: %s" % (len(failures), "; ".join(failures)))
        sys.exit(1)
    print("check_cli: all passed")


main()
