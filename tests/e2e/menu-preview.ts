// Draws the tray menu model as a small HTML page that looks like a macOS menu, for the README's picture.
// It is the menu model rendered, not a screenshot of the real menu (that needs Electron on a Mac).
import type { MenuModel } from '../../src-main/menu-model';

const esc = (s: string) =>
  s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c] ?? c);

export function menuPreviewHtml(model: MenuModel): string {
  const rows = model.items
    .map((i) => {
      if (i.type === 'separator') return '<div class="sep"></div>';
      const enabled = i.type === 'label' ? false : i.enabled;
      const check = i.type === 'checkbox' && i.checked ? '✓' : '';
      return `<div class="item${enabled ? '' : ' off'}"><span class="check">${check}</span>${esc(i.label)}</div>`;
    })
    .join('\n');
  return `<!doctype html><html><head><meta charset="utf-8"><style>
    body { margin: 0; padding: 24px; background: linear-gradient(#6d8fb5, #9fb7cf); font: 13px -apple-system, system-ui, sans-serif; }
    .bar { height: 24px; background: rgba(240,240,240,.85); display: flex; justify-content: flex-end; align-items: center; padding: 0 12px; width: 460px; border-radius: 4px 4px 0 0; }
    .bar .icon { width: 14px; height: 14px; border-radius: 50%; border: 2px solid #111; box-sizing: border-box; }
    .menu { width: 440px; margin-left: 20px; background: rgba(246,246,246,.97); border-radius: 6px; box-shadow: 0 8px 24px rgba(0,0,0,.3); padding: 5px 0; }
    .item { padding: 3px 14px 3px 6px; color: #111; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
    .item.off { color: #8a8a8a; }
    .check { display: inline-block; width: 18px; text-align: center; }
    .sep { height: 1px; background: #d6d6d6; margin: 5px 0; }
    .caption { margin-top: 10px; color: #fff; font-size: 11px; width: 460px; }
  </style></head><body>
  <div class="bar"><span class="icon" title="${esc(model.tooltip)}"></span></div>
  <div class="menu" id="menu">${rows}</div>
  <div class="caption">The tray menu model, rendered from a real daemon's state (not a macOS screenshot).</div>
  </body></html>`;
}
