// The menu-bar icon: a template image per state (macOS tints it), the status line as tooltip, and the menu,
// rebuilt from the model on every change so it updates while it is open.
import { Menu, Tray, nativeImage } from 'electron';
import { join } from 'node:path';
import type { MenuAction, MenuModel, TrayState } from './menu-model';
import { menuTemplate } from './menu-template';

function icon(state: TrayState) {
  // nativeImage picks up the @2x file next to it by itself.
  const image = nativeImage.createFromPath(join(__dirname, 'assets', `tray-${state}Template.png`));
  image.setTemplateImage(true);
  return image;
}

export class GangwayTray {
  private readonly tray: Tray;
  private state: TrayState | undefined;
  private lastLabels: string[] = [];

  constructor(private readonly onAction: (a: MenuAction) => void) {
    this.tray = new Tray(icon('connecting'));
  }

  show(model: MenuModel): void {
    if (model.trayState !== this.state) {
      this.tray.setImage(icon(model.trayState));
      this.state = model.trayState;
    }
    this.tray.setToolTip(model.tooltip);
    this.tray.setContextMenu(Menu.buildFromTemplate(menuTemplate(model, this.onAction)));
    this.lastLabels = model.items.map((i) => (i.type === 'separator' ? '---' : i.label));
  }

  /** The menu's labels as shown (the smoke test reads them; Electron has no way to list a tray's items). */
  labels(): string[] {
    return this.lastLabels;
  }

  destroy(): void {
    this.tray.destroy();
  }
}
