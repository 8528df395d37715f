/* The wanrt subcommands: one file each (cli/cmd_<name>.c), one table in cli/main.c. */
#ifndef WR_CLI_COMMANDS_H
#define WR_CLI_COMMANDS_H

int cmd_info(int argc, char **argv);
int cmd_frames(int argc, char **argv);
int cmd_last_frame(int argc, char **argv);
int cmd_encode(int argc, char **argv);
int cmd_concat(int argc, char **argv);
int cmd_dit(int argc, char **argv);
int cmd_schedule(int argc, char **argv);
int cmd_vae_encode(int argc, char **argv);
int cmd_vae_decode(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_t5(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_extend(int argc, char **argv);
int cmd_interpolate(int argc, char **argv);
int cmd_upscale(int argc, char **argv);
int cmd_upscale_vae(int argc, char **argv);
int cmd_upscale_dit(int argc, char **argv);
int cmd_make_tiny_models(int argc, char **argv);
int cmd_devices(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_plan(int argc, char **argv);

typedef struct cli_command {
    const char *name;
    int (*run)(int argc, char **argv); /* argv[0] is the command name; returns the exit code */
    const char *summary;
} cli_command;

/* Ends with a NULL name. */
extern const cli_command cli_commands[];
const cli_command *cli_command_find(const char *name);

#endif
