import type { Command } from 'commander';
import { configToYaml, configWarnings, formatProblem, loadConfig } from '../../config/index.js';
import { type CliContext, writeLine } from '../context.js';

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** Adds the options every config-driven command shares. */
export function withConfigOptions(command: Command, required = true): Command {
  const help = 'experiment config (YAML or JSON)';
  (required
    ? command.requiredOption('-c, --config <file>', help)
    : command.option('-c, --config <file>', help)
  ).option('--set <key=value>', 'override a config value, e.g. --set train.seed=7 (repeatable)', collect, []);
  return command;
}

/**
 * `ssmis validate --config FILE`: the resolved config, or every problem with its key path (exit 2); valid settings
 * that are known to hurt training are printed as warnings.
 */
export function registerValidate(program: Command, ctx: CliContext): void {
  withConfigOptions(
    program
      .command('validate')
      .description('check a config and print it resolved (every default filled), or list every error')
      .option('--json', 'print the resolved config as JSON'),
  ).action(async (opts: { config: string; set: string[]; json?: boolean }) => {
    const { config, files, sources } = await loadConfig(opts.config, { set: opts.set });
    if (opts.json) {
      writeLine(ctx.out, JSON.stringify(config, null, 2));
    } else {
      ctx.out.write(configToYaml(config, { header: `resolved from ${files.join(' <- ')}` }));
    }
    // Valid but known to hurt: one line each on stderr; the exit code stays 0.
    for (const warning of configWarnings(config)) {
      const source = sources[warning.path] ?? opts.config;
      writeLine(
        ctx.err,
        formatProblem({ source, path: warning.path, message: `warning: ${warning.message}` }),
      );
    }
    writeLine(ctx.err, `${opts.config}: valid`);
  });
}

export { collect };
