/* SPDX-License-Identifier: MIT */
/* A small file for the `cc` audit test. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct node {
	struct node *next;
	char name[32];
};

int main(int argc, char **argv)
{
	struct node *head = NULL, *n;
	int i;

	for (i = 0; i < argc; i++) {
		n = calloc(1, sizeof(*n));
		if (!n)
			return 1;
		strncpy(n->name, argv[i], sizeof(n->name) - 1);
		n->next = head;
		head = n;
	}
	while (head) {
		n = head->next;
		printf("%s\n", head->name);
		free(head);
		head = n;
	}
	return 0;
}
