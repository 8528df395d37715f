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

#endif
