import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  capCell,
  capLength,
  cellCutMarker,
  discordText,
  MAX_CSV_CELL_CHARS,
  ELLIPSIS,
  escapeDiscordMarkdown,
  safeCsvCell,
  safeText,
  wellFormed,
} from '../../src/respond/safe-text';

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

describe('respond/safe-text', () => {
  describe('wellFormed', () => {
    it('replaces lone high and low surrogates with U+FFFD and keeps real pairs', () => {
      assert.equal(wellFormed('a\uD800b'), 'a\uFFFDb');
      assert.equal(wellFormed('a\uDC00b'), 'a\uFFFDb');
      assert.equal(wellFormed('end\uD83D'), 'end\uFFFD');
      assert.equal(wellFormed('\uDE00\uD83D'), '\uFFFD\uFFFD');
      assert.equal(wellFormed('ok \uD83D\uDE00'), 'ok \uD83D\uDE00');
    });

    it('leaves what TextDecoder made of invalid UTF-8 as U+FFFD', () => {
      const decoded = new TextDecoder().decode(Buffer.from([0xff, 0xfe, 0x41]));
      assert.equal(decoded, '\uFFFD\uFFFDA');
      assert.equal(wellFormed(decoded), '\uFFFD\uFFFDA');
      assert.equal(safeText(decoded), '\uFFFD\uFFFDA');
    });

    it('never leaves a lone surrogate in any binary string', () => {
      fc.assert(
        fc.property(fc.string({ unit: 'binary', maxLength: 200 }), (s) => {
          const out = wellFormed(s);
          assert.equal(LONE_SURROGATE.test(out), false);
          assert.equal(out.length, s.length);
        }),
      );
    });
  });

  describe('safeText (TXT report, log)', () => {
    it('makes line breaks, NUL, DEL and C1 controls visible', () => {
      assert.equal(safeText('root\r\nTime: forged'), 'root<U+000D><U+000A>Time: forged');
      assert.equal(safeText('a\u0000b\u007Fc\u0085d\u009Be\tf'), 'a<U+0000>b<U+007F>c<U+0085>d<U+009B>e<U+0009>f');
      assert.equal(safeText('x\u2028y\u2029z'), 'x<U+2028>y<U+2029>z');
    });

    it('makes every bidi override, embedding and isolate visible', () => {
      for (let cp = 0x202a; cp <= 0x202e; cp++) {
        assert.equal(safeText(`a${String.fromCharCode(cp)}b`), `a<U+${cp.toString(16).toUpperCase()}>b`);
      }
      for (let cp = 0x2066; cp <= 0x2069; cp++) {
        assert.equal(safeText(`a${String.fromCharCode(cp)}b`), `a<U+${cp.toString(16).toUpperCase()}>b`);
      }
      assert.equal(safeText('\u200E\u200F\u061C'), '<U+200E><U+200F><U+061C>');
    });

    it('keeps ordinary text, accents and emoji unchanged', () => {
      const text = 'José — ユーザー 👩‍💻 admin@example.com';
      assert.equal(safeText(text), text);
    });

    it('always yields one line without control characters', () => {
      fc.assert(
        fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (s) => {
          const out = safeText(s);
          assert.equal(/[\u0000-\u001F\u007F-\u009F\u2028\u2029\u202A-\u202E\u2066-\u2069]/.test(out), false);
          assert.equal(LONE_SURROGATE.test(out), false);
        }),
      );
    });
  });

  describe('safeCsvCell', () => {
    it('prefixes a single quote to values a spreadsheet would evaluate', () => {
      assert.equal(safeCsvCell('=HYPERLINK("http://x")'), `'=HYPERLINK("http://x")`);
      assert.equal(safeCsvCell('+cmd'), `'+cmd`);
      assert.equal(safeCsvCell('-2+3'), `'-2+3`);
      assert.equal(safeCsvCell('@SUM(1)'), `'@SUM(1)`);
      assert.equal(safeCsvCell('\t=1'), `'<U+0009>'=1`);
      assert.equal(safeCsvCell('\rx'), `'<U+000D>x`);
      assert.equal(safeCsvCell('  =1+1'), `'  =1+1`);
    });

    it('leaves plain numbers and ordinary text alone', () => {
      assert.equal(safeCsvCell('-4'), '-4');
      assert.equal(safeCsvCell('+1'), '+1');
      assert.equal(safeCsvCell('3.5'), '3.5');
      assert.equal(safeCsvCell('root'), 'root');
      assert.equal(safeCsvCell('a=b'), 'a=b');
      assert.equal(safeCsvCell(''), '');
    });

    it('normalises embedded CR, LF and NUL to visible markers so a row stays one line', () => {
      assert.equal(safeCsvCell('a\r\nb\u0000c'), 'a<U+000D><U+000A>b<U+0000>c');
    });

    it('never starts with a formula trigger and never holds a line break', () => {
      fc.assert(
        fc.property(fc.string({ unit: 'binary', maxLength: 100 }), (s) => {
          const out = safeCsvCell(s);
          assert.equal(/[\r\n\u0000]/.test(out), false);
          if (/^[=+\-@\t\r]/.test(out)) assert.match(out, /^(?:[+-]?\d+(\.\d+)?|-)$/);
        }),
      );
    });

    it('guards every piece a spreadsheet could split off: after , ; | and TAB, blanks looked through', () => {
      assert.equal(safeCsvCell('a;=1+1'), "a;'=1+1");
      assert.equal(safeCsvCell('x|@SUM(1)'), "x|'@SUM(1)");
      assert.equal(safeCsvCell('a,-2+3'), "a,'-2+3");
      assert.equal(safeCsvCell('b\t=cmd'), "b<U+0009>'=cmd");
      for (const sep of [',', ';', '|', '\t']) {
        for (const trigger of ['=', '+', '-', '@', '\t', '\r']) {
          const out = safeCsvCell(`ok${sep}${trigger}x`);
          const visible = (c: string) => (c === '\t' ? '<U+0009>' : c === '\r' ? '<U+000D>' : c);
          assert.equal(out, `ok${visible(sep)}'${visible(trigger)}x`, JSON.stringify([sep, trigger]));
        }
        assert.equal(safeCsvCell(`ok${sep}  =x`), `ok${sep === '\t' ? '<U+0009>' : sep}'  =x`);
        assert.equal(safeCsvCell(`ok${sep}plain`), `ok${sep === '\t' ? '<U+0009>' : sep}plain`);
      }
      assert.equal(safeCsvCell('a;b;=c;@d'), "a;b;'=c;'@d");
      assert.equal(safeCsvCell('a=b;c-d'), 'a=b;c-d');
      assert.equal(safeCsvCell('-'), '-');
      assert.equal(safeCsvCell('-4'), '-4');
    });

    it('no piece of any output starts with a trigger, whatever the separator a spreadsheet splits on', () => {
      fc.assert(
        fc.property(fc.array(fc.constantFrom('a', '=', '+', '-', '@', ',', ';', '|', '\t', '\r', ' ', '1'), { maxLength: 30 }), (chars) => {
          const out = safeCsvCell(chars.join(''));
          if (/^(?:[+-]?\d+(\.\d+)?|-)$/.test(out)) return;
          const raw = out.replace(/<U\+0009>/g, '\t').replace(/<U\+000D>/g, '\r');
          for (const piece of raw.split(/[,;|\t]/)) assert.doesNotMatch(piece.replace(/^ */, ''), /^[=+\-@\r]/, JSON.stringify(out));
        }),
      );
    });

    it('caps a cell at MAX_CSV_CELL_CHARS with a visible marker naming the original length, cheaply for 31 MB', () => {
      const big = 'u'.repeat(31 * 1024 * 1024);
      const started = process.hrtime.bigint();
      const out = safeCsvCell(big);
      assert.ok(Number(process.hrtime.bigint() - started) / 1e6 < 200, 'cut before any per-character work');
      assert.equal(out.length, MAX_CSV_CELL_CHARS);
      assert.ok(out.endsWith(cellCutMarker(big.length)));
      assert.equal(safeCsvCell('x'.repeat(MAX_CSV_CELL_CHARS)), 'x'.repeat(MAX_CSV_CELL_CHARS));
      // Made-visible controls can push a cell past the cap: cut, never in the middle of <U+XXXX>.
      const controls = safeCsvCell('\u0001'.repeat(1000));
      assert.ok(controls.length <= MAX_CSV_CELL_CHARS);
      assert.match(controls, /^(<U\+0001>)+…\[cut: 1000 chars\]$/);
      // A formula after the cut point cannot come back: the guard runs on what is kept.
      assert.ok(safeCsvCell(`${'a'.repeat(5000)};=1`).endsWith(cellCutMarker(5003)));
      assert.equal(capCell('short', 10), 'short');
      assert.equal(capCell('\u{1F600}'.repeat(5000), 100).length <= 100, true);
      assert.doesNotMatch(capCell('\u{1F600}'.repeat(5000), 100), /[\uD800-\uDBFF](?![\uDC00-\uDFFF])/);
    });
  });

  describe('escapeDiscordMarkdown', () => {
    it('backslash-escapes every markdown character', () => {
      assert.equal(escapeDiscordMarkdown('\\*_~`|>#-[]()<+'), '\\\\\\*\\_\\~\\`\\|\\>\\#\\-\\[\\]\\(\\)\\<\\+');
      assert.equal(escapeDiscordMarkdown('**bold**'), '\\*\\*bold\\*\\*');
      assert.equal(escapeDiscordMarkdown('||spoiler||'), '\\|\\|spoiler\\|\\|');
    });

    it('breaks @everyone and @here with a zero-width space, in any case', () => {
      assert.equal(escapeDiscordMarkdown('@everyone'), '@\u200Beveryone');
      assert.equal(escapeDiscordMarkdown('hi @HERE now'), 'hi @\u200BHERE now');
      assert.equal(escapeDiscordMarkdown('admin@example.com'), 'admin@example.com');
    });

    it('disables user, role and channel mentions and timestamps by escaping <', () => {
      assert.equal(escapeDiscordMarkdown('<@123>'), '\\<@123\\>');
      assert.equal(escapeDiscordMarkdown('<@&456>'), '\\<@&456\\>');
      assert.equal(escapeDiscordMarkdown('<#789>'), '\\<\\#789\\>');
      assert.equal(escapeDiscordMarkdown('<t:1:R>'), '\\<t:1:R\\>');
    });

    it('disables masked links and plain autolinks', () => {
      assert.equal(escapeDiscordMarkdown('[click](https://evil.example)'), '\\[click\\]\\(https\\://evil.example\\)');
      assert.equal(escapeDiscordMarkdown('see http://x'), 'see http\\://x');
    });

    it('stops a leading "1." from becoming an ordered list', () => {
      assert.equal(escapeDiscordMarkdown('1. ordered'), '1\\. ordered');
      assert.equal(escapeDiscordMarkdown('v1.2'), 'v1.2');
      assert.equal(escapeDiscordMarkdown('1.2.3.4'), '1.2.3.4');
      assert.equal(escapeDiscordMarkdown('42.'), '42\\.');
    });
  });

  describe('capLength', () => {
    it('returns short text unchanged and cuts long text with an ellipsis at the limit', () => {
      assert.equal(capLength('abc', 3), 'abc');
      assert.equal(capLength('abcdef', 4), 'abc' + ELLIPSIS);
      assert.equal(capLength('abcdef', 1), ELLIPSIS);
      assert.equal(capLength('abcdef', 0), '');
    });

    it('never splits a surrogate pair', () => {
      const emoji = '\uD83D\uDE00';
      assert.equal(capLength(`ab${emoji}cd`, 4), 'ab' + ELLIPSIS);
      assert.equal(capLength(`ab${emoji}cd`, 5), `ab${emoji}${ELLIPSIS}`);
    });

    it('never leaves a dangling escape backslash before the ellipsis', () => {
      assert.equal(capLength('ab\\*cd', 4), 'ab' + ELLIPSIS);
      assert.equal(capLength('a\\\\bcd', 4), 'a\\\\' + ELLIPSIS);
    });

    it('keeps every cut within the limit and well formed (grapheme and binary strings)', () => {
      const text = fc.oneof(fc.string({ unit: 'grapheme', maxLength: 300 }), fc.string({ unit: 'grapheme-composite', maxLength: 300 }));
      fc.assert(
        fc.property(text, fc.integer({ min: 0, max: 400 }), (s, max) => {
          const out = capLength(s, max);
          assert.ok(out.length <= max);
          assert.equal(LONE_SURROGATE.test(out), false);
          if (s.length > max && max > 0) assert.ok(out.endsWith(ELLIPSIS));
          if (s.length <= max) assert.equal(out, s);
        }),
      );
    });
  });

  describe('discordText', () => {
    it('neutralises, escapes and caps in one step', () => {
      assert.equal(discordText('**x**\n@everyone', 100), '\\*\\*x\\*\\*\\<U\\+000A\\>@\u200Beveryone');
      const long = discordText('_'.repeat(2000), 1024);
      assert.ok(long.length <= 1024);
      assert.ok(long.endsWith(`\\_${ELLIPSIS}`));
    });
  });
});
