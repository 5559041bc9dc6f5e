"""The Pixiv metadata source's command, routes and background fetch, as a plug-in
(the fetching itself is :mod:`pximse.sources.pixiv`)."""
