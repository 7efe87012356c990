/* Placeholder so lrrelay is never an empty library; removed once relay modules exist. */
int relay_lib_placeholder(void);
int relay_lib_placeholder(void)
{
    return 0;
}
