// The services a node daemon hosts (the filesystem mounts, the DMAPI, the lock manager): the
// interface each implements and the registry the daemon keeps of them. Each contributes control
// commands and a status section; the daemon starts them in registration order and stops them in
// reverse order. This lives in src/common, the leaf module of helpers the daemon and its services
// share, so that a service is written against this interface without importing its host.
import { CodedError } from './errors';
import { Logger } from './log';

export interface CommandContext {
  /** The node daemon's name. */
  node: string;
}

export type CommandHandler = (args: Record<string, unknown>, ctx: CommandContext) => Promise<unknown> | unknown;

export interface Service {
  /** Short unique name (a key of the status answer's `services`). */
  readonly name: string;
  /** Control commands this service answers. Names must be unique across services. */
  readonly commands?: Record<string, CommandHandler>;
  start?(): Promise<void>;
  /** Releases everything (unmount, close sessions); must not throw for things already gone. */
  stop(reason: string): Promise<void>;
  /** A JSON-able summary for `status`. */
  status(): unknown;
}

export class ServiceRegistry {
  private readonly services: Service[] = [];
  private readonly commands = new Map<string, { service: Service; handler: CommandHandler }>();

  constructor(private readonly log: Logger) {}

  register(service: Service): void {
    if (this.services.some((s) => s.name === service.name)) throw new Error(`service ${service.name} registered twice`);
    for (const [cmd, handler] of Object.entries(service.commands ?? {})) {
      if (this.commands.has(cmd)) throw new Error(`command ${cmd} of service ${service.name} already taken`);
      this.commands.set(cmd, { service, handler });
    }
    this.services.push(service);
  }

  /** Adds a command that belongs to the daemon itself (ping, status, stop). */
  addCommand(cmd: string, handler: CommandHandler): void {
    if (this.commands.has(cmd)) throw new Error(`command ${cmd} already taken`);
    this.commands.set(cmd, { service: { name: 'daemon', stop: async () => undefined, status: () => null }, handler });
  }

  get(name: string): Service | undefined {
    return this.services.find((s) => s.name === name);
  }

  commandNames(): string[] {
    return [...this.commands.keys()].sort();
  }

  async dispatch(cmd: string, args: Record<string, unknown>, ctx: CommandContext): Promise<unknown> {
    const c = this.commands.get(cmd);
    if (!c) throw new CodedError('ENOSYS', `unknown command '${cmd}' (known: ${this.commandNames().join(', ')})`);
    return c.handler(args, ctx);
  }

  async startAll(): Promise<void> {
    for (const s of this.services) if (s.start) await s.start();
  }

  /** Stops every service (reverse order); a failing one is logged and the others still stop. */
  async stopAll(reason: string): Promise<void> {
    for (const s of [...this.services].reverse()) {
      try {
        await s.stop(reason);
      } catch (e) {
        this.log.error(`service ${s.name} failed to stop: ${(e as Error)?.message ?? e}`);
      }
    }
  }

  status(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const s of this.services) {
      try { out[s.name] = s.status(); } catch (e) { out[s.name] = { error: (e as Error).message }; }
    }
    return out;
  }
}
