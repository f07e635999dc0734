# First version: runs the TypeScript sources with tsx on a current Node LTS.
# The scale-out work replaces this with a multi-stage build of compiled JavaScript.
FROM node:24-trixie-slim
WORKDIR /app
ENV NODE_ENV=production PORT=3000
COPY package.json package-lock.json ./
RUN npm ci --omit=dev && npm cache clean --force
COPY tsconfig.json ./
COPY src ./src
USER node
EXPOSE 3000
# SESSION_SECRET must be given at run time: docker run -e SESSION_SECRET=... -p 3000:3000 image
CMD ["node", "--import", "tsx", "src/primary.ts"]
