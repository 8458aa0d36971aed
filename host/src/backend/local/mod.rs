// placeholder until the local backend lands
