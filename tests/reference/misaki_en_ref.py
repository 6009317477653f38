#!/usr/bin/env python3
"""Reference English phonemes from misaki's own code, for tests/check_en.py.

usage: misaki_en_ref.py MISAKI_DIR {us,gb} {words,sentences,hetero} INPUT OUTPUT

MISAKI_DIR is a checkout of hexgrad/misaki (the directory holding misaki/en.py);
nothing of it is copied here. INPUT has one word or sentence per line; OUTPUT
receives "input<TAB>phonemes" lines.

misaki's English G2P imports spaCy, torch and transformers, none of which this
environment has. This script puts minimal stand-ins in their place, and only
these things differ from running misaki as released:
 - torch, transformers: empty modules (only misaki's neural fallback uses them;
   it is not used: the fallback answers nothing, so a word misaki's lexicon
   cannot answer shows as the unknown mark U+2753 and the test skips it);
 - addict (misaki's token attributes): a dict with attribute access;
 - spaCy's tokenizer and tagger (sentences only): the function `standin_nlp`
   below. It splits on whitespace, splits off leading ( " “ $ £ € and trailing
   . , ; : ! ? … " ” ) (a final period stays on words such as "Dr." and "U.S."),
   splits "n't" and 's clitics, and tags by a short closed-class table: DT a an
   the, PRP I, TO to, IN in of for by with at from on, CD numbers and number
   words, $ currency symbols, punctuation tags for punctuation, NN for every other
   word. A sentence whose words need a part-of-speech choice (heteronyms) is
   therefore read with NN by the reference; tests keep such sentences out.
Words are looked up by misaki's Lexicon with an empty tag and no context, then given
the same final ɾ->T, ʔ->t replacement that misaki's G2P applies. Heteronym lines
are "sentence<TAB>word<TAB>Penn tag" with the tag chosen by hand; the reference is
misaki's Lexicon answer for the word with that tag (output: the line, TAB, phonemes).
"""
import os
import re
import sys
import types


def install_standins():
    for name in ('torch', 'transformers'):
        sys.modules[name] = types.ModuleType(name)
    sys.modules['transformers'].BartForConditionalGeneration = object
    addict = types.ModuleType('addict')

    class Dict(dict):
        def __getattr__(self, k):
            return self.get(k, Dict())

        def __setattr__(self, k, v):
            self[k] = v

    addict.Dict = Dict
    sys.modules['addict'] = addict
    spacy = types.ModuleType('spacy')
    spacy.util = types.SimpleNamespace(is_package=lambda name: True)
    spacy.load = lambda name, enable=None: standin_nlp
    sys.modules['spacy'] = spacy


LEAD = '("“$£€'
TRAIL = '.,;:!?…"”)'
CLOSED = {'a': 'DT', 'an': 'DT', 'the': 'DT', 'i': 'PRP', 'to': 'TO', 'in': 'IN', 'of': 'IN', 'for': 'IN',
          'by': 'IN', 'with': 'IN', 'at': 'IN', 'from': 'IN', 'on': 'IN'}
NUMBER_WORDS = {'hundred', 'thousand', 'million', 'billion', 'trillion'}
PUNCT_TAG = {'.': '.', '!': '.', '?': '.', ',': ',', ';': ':', ':': ':', '…': ':', '(': '-LRB-', ')': '-RRB-',
             '“': '``', '”': "''", '$': '$', '£': '$', '€': '$'}


class Tok:
    def __init__(self, text, tag, ws):
        self.text, self.tag_, self.whitespace_ = text, tag, ws


def tag_of(t, lead):
    if t in PUNCT_TAG:
        return PUNCT_TAG[t]
    if t == '"':
        return '``' if lead else "''"
    if t == '...':
        return ':'
    if re.fullmatch(r'-?[\d.,]*\d[\d.,]*', t) or t.lower() in NUMBER_WORDS:
        return 'CD'
    if t == 'I':
        return 'PRP'
    return CLOSED.get(t.lower(), 'NN')


def split_chunk(c):
    lead, trail = [], []
    while c and c[0] in LEAD and len(c) > 1:
        lead.append(c[0])
        c = c[1:]
    while c and c[-1] in TRAIL:
        if c[-1] == '.' and (('.' in c[:-1] and re.fullmatch(r'(\w\.)+', c)) or c in ('Dr.', 'Mr.', 'Mrs.', 'Ms.', 'St.', 'etc.', 'No.', 'vs.')):
            break
        if c.endswith('...'):
            trail.insert(0, '...')
            c = c[:-3]
            continue
        trail.insert(0, c[-1])
        c = c[:-1]
    mid = []
    if c:
        m = re.fullmatch(r"(.+?)(n't|'s|'re|'ve|'ll|'d|'m)", c, re.I)
        mid = [m.group(1), m.group(2)] if m and not c.lower() in ("let's",) else [c]
    return lead, mid, trail


def standin_nlp(text):
    toks = []
    chunks = re.findall(r'\S+\s*', text)
    for ch in chunks:
        word = ch.rstrip()
        ws = ' ' if ch != word else ''
        lead, mid, trail = split_chunk(word)
        parts = [(t, True) for t in lead] + [(t, None) for t in mid] + [(t, False) for t in trail]
        for i, (t, is_lead) in enumerate(parts):
            toks.append(Tok(t, tag_of(t, is_lead is not False), ws if i == len(parts) - 1 else ''))
    return toks


def main():
    if len(sys.argv) != 6:
        sys.exit(__doc__)
    src, dialect, kind, inp, outp = sys.argv[1:]
    sys.path.insert(0, src)
    install_standins()
    from misaki import en
    from misaki.token import MToken
    british = dialect == 'gb'
    with open(inp, encoding='utf-8') as f:
        lines = [l.rstrip('\n') for l in f if l.strip()]
    out = []
    if kind == 'hetero':
        lex = en.Lexicon(british)
        for line in lines:
            sent, w, tag = line.split('\t')
            tk = MToken(text=w, tag=tag, whitespace='', _=MToken.Underscore(is_head=True, num_flags='', prespace=False))
            ps, _ = lex(tk, en.TokenContext(future_vowel=False))
            out.append(line + '\t' + ps.replace('ɾ', 'T').replace('ʔ', 't'))
    elif kind == 'words':
        lex = en.Lexicon(british)
        for w in lines:
            tk = MToken(text=w, tag='', whitespace='', _=MToken.Underscore(is_head=True, num_flags='', prespace=False))
            ps, _ = lex(tk, en.TokenContext())
            ps = '\u2753' if ps is None else ps.replace('ɾ', 'T').replace('ʔ', 't')
            out.append(w + '\t' + ps)
    else:
        g2p = en.G2P(british=british, fallback=lambda tk: (None, None), unk='\u2753')
        for s in lines:
            ps, _ = g2p(s)
            out.append(s + '\t' + ps.strip())
    with open(outp, 'w', encoding='utf-8') as f:
        f.write('\n'.join(out) + '\n')


if __name__ == '__main__':
    main()
