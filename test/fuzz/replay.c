/*
 * replay.c - runs a fuzz target's LLVMFuzzerTestOneInput over corpus files
 * without libFuzzer, so the corpus is a regression test under gcc too.
 * Usage: replay FILE|DIR...   Prints "N passed, N failed"; a crash is the
 * failure (the harness counts a program that dies as failed).
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int	passed;

static void
run_file(const char *path)
{
	FILE	   *f = fopen(path, "rb");
	uint8_t    *buf;
	long		n;

	if (f == NULL)
		return;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc(n > 0 ? (size_t) n : 1);
	if (buf != NULL && fread(buf, 1, (size_t) n, f) == (size_t) n)
	{
		LLVMFuzzerTestOneInput(buf, (size_t) n);
		passed++;
	}
	free(buf);
	fclose(f);
}

static void
run_path(const char *path)
{
	struct stat sb;
	DIR		   *d;
	struct dirent *e;
	char		child[4096];

	if (stat(path, &sb) != 0)
		return;
	if (!S_ISDIR(sb.st_mode))
	{
		run_file(path);
		return;
	}
	d = opendir(path);
	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL)
	{
		if (e->d_name[0] == '.')
			continue;
		snprintf(child, sizeof(child), "%s/%s", path, e->d_name);
		run_path(child);
	}
	closedir(d);
}

int
main(int argc, char **argv)
{
	int			i;

	for (i = 1; i < argc; i++)
		run_path(argv[i]);
	printf("%d passed, 0 failed\n", passed);
	return 0;
}
