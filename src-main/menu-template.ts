// Turns the pure menu model into Electron's menu template; clicks go to one action handler.
import type { MenuItemConstructorOptions } from 'electron';
import type { MenuAction, MenuModel } from './menu-model';

export function menuTemplate(
  model: MenuModel,
  onAction: (a: MenuAction) => void,
): MenuItemConstructorOptions[] {
  return model.items.map((item): MenuItemConstructorOptions => {
    switch (item.type) {
      case 'separator':
        return { type: 'separator' };
      case 'label':
        return { label: item.label, enabled: false };
      case 'action':
        return { label: item.label, enabled: item.enabled, click: () => onAction(item.action) };
      case 'checkbox':
        return {
          type: 'checkbox',
          label: item.label,
          checked: item.checked,
          enabled: item.enabled,
          click: () => onAction(item.action),
        };
    }
  });
}
