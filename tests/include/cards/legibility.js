// Renders Adaptive Cards with Microsoft's renderer (window.AdaptiveCards, loaded before this
// file) the way Teams shows them, and measures what a reader would see. Driven by
// tests/include/cards/card_browser.py; nothing here decides pass or fail.
"use strict";

window.legibility = (() => {
  const AC = window.AdaptiveCards;
  let hostConfig = null;

  function setHostConfig(json) {
    hostConfig = new AC.HostConfig(json);
  }

  // The rendered line boxes of a DOM range, merged per line: rects whose vertical centres lie
  // within half a line of each other are one line (fallback fonts sit a few px apart).
  function lineCount(range, lineHeight) {
    const centres = [...range.getClientRects()]
      .filter((r) => r.width > 0 && r.height > 0)
      .map((r) => r.top + r.height / 2)
      .sort((a, b) => a - b);
    let lines = 0;
    let last = -Infinity;
    for (const c of centres) {
      if (c - last > lineHeight / 2) lines += 1;
      last = c;
    }
    return lines;
  }

  // The height of one line of this element's text: its line-height, or for "normal" a
  // one-line probe with the same font.
  function lineHeightOf(el) {
    const style = getComputedStyle(el);
    const px = parseFloat(style.lineHeight);
    if (!Number.isNaN(px)) return px;
    const probe = document.createElement("span");
    probe.textContent = "Xg한";
    probe.style.cssText = `font: ${style.font}; white-space: nowrap; display: inline-block; line-height: normal;`;
    document.body.appendChild(probe);
    const height = probe.getBoundingClientRect().height;
    probe.remove();
    return height;
  }

  function textNodes(root) {
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    const nodes = [];
    while (walker.nextNode()) {
      if (walker.currentNode.nodeValue.trim()) nodes.push(walker.currentNode);
    }
    return nodes;
  }

  // Parse, validate and render one card into #host at `width` px; measure it.
  function measure(payload, width, lang) {
    const host = document.getElementById("host");
    host.replaceChildren();
    host.style.width = `${width}px`;
    document.documentElement.lang = lang || "en";
    // adaptivecards 3.0.6 tests "lang" with a /g regex whose lastIndex survives between cards
    // (see plugins/card_preview/static/preview.js): reset it so each card is judged alone.
    AC.CardElement.langProperty.regEx.lastIndex = 0;
    const card = new AC.AdaptiveCard();
    card.hostConfig = hostConfig;
    const context = new AC.SerializationContext();
    const warnings = [];
    card.parse(payload, context);
    for (let i = 0; i < context.eventCount; i++) {
      const e = context.getEventAt(i);
      warnings.push(`parse: ${AC.ValidationEvent[e.event]}: ${e.message}`);
    }
    for (const e of card.validateProperties().validationEvents) {
      warnings.push(`validate: ${AC.ValidationEvent[e.event]}: ${e.message}`);
    }
    const element = card.render();
    if (!element) {
      return { warnings: [...warnings, "render: nothing rendered"], height: 0, broken: [], proseBreaks: [], clipped: [] };
    }
    host.appendChild(element);

    // 1. The brief's rule: a text block without whitespace taller than 1.5 lines is broken.
    // 2. Finer: every whitespace-separated word of any text on the card (text blocks, rich
    //    text, fact titles and values, buttons) must sit on one line.
    const broken = [];
    for (const tb of element.querySelectorAll(".ac-textBlock")) {
      const text = tb.innerText.trim();
      const lineHeight = lineHeightOf(tb);
      const height = tb.getBoundingClientRect().height;
      if (text && !/\s/.test(text) && height > 1.5 * lineHeight) {
        broken.push({ rule: "block", text, height: Math.round(height), lineHeight: Math.round(lineHeight) });
      }
    }
    const proseBreaks = [];
    for (const node of textNodes(element)) {
      const lineHeight = lineHeightOf(node.parentElement);
      const words = node.nodeValue.match(/\S+/g) || [];
      const bold = parseInt(getComputedStyle(node.parentElement).fontWeight, 10) >= 600;
      // a line of its own across the card, not a cell of a row, a fact or a button
      const fullWidth = !node.parentElement.closest(".ac-columnSet, .ac-factset, .ac-pushButton");
      for (const match of node.nodeValue.matchAll(/\S+/g)) {
        const range = document.createRange();
        range.setStart(node, match.index);
        range.setEnd(node, match.index + match[0].length);
        const lines = lineCount(range, lineHeight);
        if (lines < 2) continue;
        const found = { rule: "word", text: match[0], lines, in: node.nodeValue };
        // Browsers break Korean text between any two syllables (CSS word-break: normal), and a
        // card cannot ask for keep-all: in running prose (a line of its own, 3+ words, not
        // bold) a Hangul-only word may break like that. Anything with a digit or a Latin
        // letter, and any word of a heading, a label, a cell or a code, must not.
        const hangulOnly = /^[\p{Script=Hangul}\p{P}]+$/u.test(match[0]);
        if (hangulOnly && !bold && fullWidth && words.length >= 3) proseBreaks.push(found);
        else broken.push(found);
      }
    }
    // Text cut off instead of wrapped (ellipsis, overflow): as unreadable as a broken token.
    const clipped = [];
    for (const el of element.querySelectorAll(".ac-textBlock, .ac-pushButton, .ac-pushButton > div")) {
      if (el.scrollWidth > el.clientWidth + 1) clipped.push(el.innerText.trim());
    }
    return {
      warnings,
      height: Math.round(element.getBoundingClientRect().height),
      broken,
      proseBreaks,
      clipped,
    };
  }

  return { setHostConfig, measure };
})();
